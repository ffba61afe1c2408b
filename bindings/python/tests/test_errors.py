"""Library errors arrive as `axdnn.AxdnnError` with the CLI's message; malformed arguments as
`ValueError` naming what was expected; any memory layout of a valid array is accepted."""

from __future__ import annotations

import numpy as np
import pytest

import axdnn


def message(excinfo) -> str:
    return str(excinfo.value)


def test_unknown_multiplier_has_the_cli_message(axdnn_cli, lenet):
    cli = axdnn_cli.error("infer", "--model", "models/lenet5-mnist", "--n", 1, "--multiplier", "mul8u_NOPE")
    with pytest.raises(axdnn.AxdnnError) as e:
        axdnn.Multiplier("mul8u_NOPE")
    assert message(e) == cli
    with pytest.raises(axdnn.AxdnnError) as e:
        axdnn.Accelerator(lenet, "mul8u_NOPE")
    assert message(e) == cli


def test_missing_model_has_the_cli_message(axdnn_cli):
    cli = axdnn_cli.error("infer", "--model", "models/no-such-model", "--n", 1)
    with pytest.raises(axdnn.AxdnnError) as e:
        axdnn.Model.load("models/no-such-model")
    assert message(e) == cli


@pytest.mark.parametrize("fixture", ["err_loop.v", "err_unknown_cell.v", "err_truncated.v"])
def test_bad_netlist_has_the_cli_message(axdnn_cli, fixture):
    path = f"netlists/{fixture}"
    cli = axdnn_cli.error("netlist", "stats", path)
    with pytest.raises(axdnn.AxdnnError) as e:
        axdnn.Netlist.parse(path)
    assert message(e) == cli


def test_signedness_mismatch_has_the_cli_message(axdnn_cli, lenet):
    cli = axdnn_cli.error("infer", "--model", "models/lenet5-mnist", "--n", 1, "--multiplier", "mul8s_1KV8")
    with pytest.raises(axdnn.AxdnnError) as e:
        axdnn.Accelerator(lenet, "mul8s_1KV8")
    assert message(e) == cli
    with pytest.raises(axdnn.AxdnnError) as e:
        axdnn.Accelerator(lenet, axdnn.Multiplier("mul8s_1KV8"))
    assert message(e) == cli


def test_unknown_layer_has_the_cli_message(axdnn_cli, lenet):
    cli = axdnn_cli.error(
        "infer", "--model", "models/lenet5-mnist", "--n", 1, "--multiplier", "conv9=mul8u_L40"
    )
    with pytest.raises(axdnn.AxdnnError) as e:
        axdnn.Accelerator(lenet, "conv9=mul8u_L40")
    assert message(e) == cli


def test_bad_settings_are_value_errors(lenet):
    with pytest.raises(ValueError, match="scheme: unknown .*asym-u8"):
        axdnn.Accelerator(lenet, scheme="int4")
    with pytest.raises(ValueError, match="dataflow"):
        axdnn.Accelerator(lenet, dataflow="rs")
    with pytest.raises(ValueError, match=r"array: expected \(rows, cols\)"):
        axdnn.Accelerator(lenet, array=16)
    with pytest.raises(ValueError, match="multiplier: expected a spec string"):
        axdnn.Accelerator(lenet, multiplier=3)
    with pytest.raises(ValueError, match="split: expected 'train' or 'test'"):
        axdnn.datasets.load("mnist", "val")
    with pytest.raises(ValueError, match="path: expected a .bin, .npy, .csv or .h"):
        axdnn.Multiplier("exact").save("table.txt")
    with pytest.raises(ValueError, match="per-layer assignment"):
        axdnn.Multiplier("conv1=mul8u_L40")


@pytest.fixture(scope="module")
def acc(lenet):
    return axdnn.Accelerator(lenet, "mul8u_L40")


EXPECTED = r"x: expected a float32 array of shape \(N, 1, 28, 28\) with values in \[0, 1\]"


@pytest.mark.parametrize("which", ["model", "accelerator"])
def test_images_are_checked(which, lenet, acc, mnist):
    f = lenet.logits if which == "model" else acc.logits
    x = mnist[0][:4]
    with pytest.raises(ValueError, match=EXPECTED + r"; got dtype float32, shape \(4, 28, 28\)"):
        f(x[:, 0])
    with pytest.raises(ValueError, match=EXPECTED + r"; got dtype float32, shape \(4, 3, 28, 28\)"):
        f(np.repeat(x, 3, axis=1))
    with pytest.raises(ValueError, match=EXPECTED + r"; got dtype uint8"):
        f((x * 255).astype(np.uint8))
    bad = x.copy()
    bad[2, 0, 5, 7] = 1.5
    with pytest.raises(ValueError, match=EXPECTED + r"; x\[2, 0, 5, 7\] is 1.5"):
        f(bad)
    bad[2, 0, 5, 7] = np.nan
    with pytest.raises(ValueError, match=r"x\[2, 0, 5, 7\] is NaN"):
        f(bad)
    with pytest.raises(ValueError, match=EXPECTED):
        f("images")


def test_labels_are_checked(lenet, acc, mnist):
    x = mnist[0][:4]
    with pytest.raises(ValueError, match=r"labels: expected an integer array of shape \(4,\) with values in 0..10"):
        lenet.input_gradient(x, np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match=r"labels: .*; got dtype float32"):
        lenet.input_gradient(x, np.zeros(4, dtype=np.float32))
    with pytest.raises(ValueError, match=r"labels: .*; found 10"):
        acc.accuracy(x, np.array([0, 1, 2, 10]))


def test_any_memory_layout_is_accepted(lenet, acc, mnist):
    x = mnist[0][:64]
    ref_float, ref_accel = lenet.logits(x), acc.logits(x)
    flipped = np.ascontiguousarray(x[:, :, ::-1, :])[:, :, ::-1, :]  # a negative-stride view
    fortran = np.asfortranarray(x)
    strided = np.zeros((128, 1, 28, 28), np.float32)
    strided[::2] = x
    for view in (flipped, fortran, strided[::2]):
        assert not view.flags.c_contiguous
        assert np.array_equal(lenet.logits(view), ref_float)
        assert np.array_equal(acc.logits(view), ref_accel)
    assert np.array_equal(acc.logits(x.astype(np.float64)), ref_accel)
    assert np.array_equal(acc.logits(x.tolist()), ref_accel)


def test_gradients(lenet, mnist):
    """input_gradient is the cross-entropy gradient; vjp with softmax − one-hot equals it."""
    x, y = mnist[0][:16], mnist[1][:16]
    loss, g = lenet.loss_and_gradient(x, y)
    assert np.array_equal(g, lenet.input_gradient(x, y))
    z = lenet.logits(x).astype(np.float64)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.allclose(loss, -np.log(p[np.arange(16), y]), rtol=1e-4)
    seed = (p - np.eye(10)[y]).astype(np.float32)
    assert np.allclose(lenet.vjp(x, seed), g, rtol=1e-3, atol=1e-6)
    # Finite differences along the gradient direction.
    d = g / np.abs(g).max()
    h = 1e-3
    lp, _ = lenet.loss_and_gradient(np.clip(x + h * d, 0, 1), y)
    lm, _ = lenet.loss_and_gradient(np.clip(x - h * d, 0, 1), y)
    inside = (x + h * d <= 1).all(axis=(1, 2, 3)) & (x - h * d >= 0).all(axis=(1, 2, 3))
    fd = (lp - lm) / (2 * h)
    an = (g * d).sum(axis=(1, 2, 3))
    assert np.allclose(fd[inside], an[inside], rtol=0.05, atol=1e-4)


def test_datasets(mnist):
    x, y = mnist
    assert x.dtype == np.float32 and x.shape == (1000, 1, 28, 28)
    assert y.dtype == np.int64 and y.shape == (1000,)
    assert 0.0 <= x.min() and x.max() <= 1.0 and set(np.unique(y)) == set(range(10))
    xc, yc = axdnn.datasets.load("cifar10", "test", n=5)
    assert xc.shape == (5, 3, 32, 32)


def test_model_properties(lenet):
    assert lenet.input_shape == (1, 28, 28) and lenet.classes == 10 and lenet.dataset == "mnist"
    assert 0.9 < lenet.test_accuracy <= 1.0

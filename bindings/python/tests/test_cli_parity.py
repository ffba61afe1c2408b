"""Every call against the `axdnn` command on the same inputs: tables equal `lut gen`'s files
byte for byte, float logits equal `eval --logits` bit for bit, accelerator logits, accuracy,
cycles and energy equal `infer --json`'s, study rows equal what `study run` stores."""

from __future__ import annotations

import json

import numpy as np
import pytest

import axdnn
from conftest import logits_sha256


@pytest.mark.parametrize("name", ["mul8u_L40", "mul8s_1KV8"])
@pytest.mark.parametrize("ext,fmt", [("bin", "bin"), ("npy", "npy"), ("csv", "csv"), ("h", "c")])
def test_table_files_equal_lut_gen(axdnn_cli, tmp_path, name, ext, fmt):
    m = axdnn.Multiplier(name)
    assert m.path is not None and str(m.path).endswith(".v")
    cli_file, py_file = tmp_path / f"cli.{ext}", tmp_path / f"py.{ext}"
    axdnn_cli.run("lut", "gen", m.path, "--out", cli_file, "--format", fmt)
    m.save(py_file)
    assert py_file.read_bytes() == cli_file.read_bytes()


@pytest.mark.parametrize("name", ["mul8u_L40", "mul8u_JV3", "mul8s_1KV8"])
def test_table_is_port_a_by_port_b(axdnn_cli, tmp_path, name):
    """`lut gen` rows are port B (the activation operand): `.table` is its transpose."""
    m = axdnn.Multiplier(name)
    out = tmp_path / "t.npy"
    axdnn_cli.run("lut", "gen", m.path, "--out", out, "--format", "npy")
    rows_b = np.load(out)
    t = m.table
    assert t.dtype == np.int32 and t.shape == (256, 256)
    assert np.array_equal(t, rows_b.T)
    assert m.signed == name.startswith("mul8s")
    # The approximate tables are not symmetric, so the orientation is really tested.
    if name != "mul8s_1KV8":
        assert not np.array_equal(t, t.T)


def test_exact_tables_are_products():
    a = np.arange(256)
    u = axdnn.Multiplier("exact").table
    assert np.array_equal(u, np.outer(a, a).astype(np.int32))
    s = axdnn.Multiplier("exact", signed=True).table
    v = np.where(a < 128, a, a - 256)
    assert np.array_equal(s, np.outer(v, v).astype(np.int32))
    assert axdnn.Multiplier("exact").metrics()["mae"] == 0.0


def test_metrics_equal_lut_gen(axdnn_cli, tmp_path):
    m = axdnn.Multiplier("mul8u_L40")
    out = axdnn_cli.run("lut", "gen", m.path, "--out", tmp_path / "t.bin").stdout
    metrics = m.metrics()
    # `lut gen` prints e.g. "MAE 78.75 (0.120 %)"; the values printed must be these, rounded.
    line = out.splitlines()[1]
    assert f"{metrics['mae']:.2f}" in line or f"{metrics['mae']:.3f}" in line, line
    assert f"{metrics['mae_pct']:.3f}" in line, line


def test_netlist_stats_and_multiplier(axdnn_cli):
    path = axdnn.Multiplier("mul8u_L40").path
    n = axdnn.Netlist.parse(path)
    s = n.stats()
    text = axdnn_cli.run("netlist", "stats", path).stdout
    assert str(s["gates"]) in text and str(s["depth"]) in text
    assert s["input_bits"] == 16 and s["output_bits"] == 16
    assert np.array_equal(n.multiplier().table, axdnn.Multiplier(str(path)).table)


def test_float_logits_equal_eval(axdnn_cli, tmp_path, lenet, mnist):
    out = tmp_path / "z.npy"
    axdnn_cli.run("eval", "--model", "models/lenet5-mnist", "--n", 500, "--logits", out)
    z = lenet.logits(mnist[0][:500])
    assert z.dtype == np.float32 and z.shape == (500, 10)
    assert z.tobytes() == np.load(out).astype("<f4").tobytes()


INFER = [
    # model, images, multiplier, Accelerator keyword arguments (the CLI flags follow from them)
    ("models/lenet5-mnist", 500, "mul8u_L40", {}),
    ("models/lenet5-mnist", 300, "mul8u_JV3", {"scheme": "sign-magnitude", "per_channel": True, "recover": "compensate"}),
    ("models/lenet5-mnist", 200, "conv1=mul8u_L40,conv2=mul8u_12N4", {"array": (8, 32), "dataflow": "os", "approx_layers": "all"}),
    ("models/lenet5-mnist", 200, "exact", {"scheme": "sym-s8", "calib": 64, "calib_seed": 3}),
    ("models/alexnet-cifar10", 20, "mul8u_12N4", {"scheme": "sign-magnitude"}),
]


def flags(kw):
    out = []
    for k, v in kw.items():
        flag = "--" + k.replace("_", "-")
        if v is True:
            out.append(flag)
        elif isinstance(v, tuple):
            out += [flag, f"{v[0]}x{v[1]}"]
        else:
            out += [flag, str(v)]
    return out


@pytest.mark.parametrize("model,n,mult,kw", INFER, ids=[f"{m.split('/')[-1]}-{x}" for m, _, x, _ in INFER])
def test_accelerator_equals_infer(axdnn_cli, model, n, mult, kw):
    ref = json.loads(
        axdnn_cli.run("infer", "--model", model, "--n", n, "--multiplier", mult, "--json", *flags(kw)).stdout
    )
    m = axdnn.Model.load(model)
    x, y = axdnn.datasets.load(m.dataset, "test", n=n)
    acc = axdnn.Accelerator(m, mult, **kw)
    z = acc.logits(x)
    assert z.shape == (n, m.classes) and z.dtype == np.float32
    assert logits_sha256(z) == ref["logits_sha256"]
    assert np.mean(acc.predict(x) == y) == ref["accuracy"]
    assert acc.accuracy(x, y) == ref["accuracy"]
    assert acc.cycles_per_image == ref["cycles_per_image"]
    if ref["energy_per_image_pj"] is None:
        assert acc.energy_per_image_nj is None
    else:
        assert acc.energy_per_image_nj * 1000 == pytest.approx(ref["energy_per_image_pj"], rel=1e-12)
    stats = acc.layer_stats()
    assert [l["name"] for l in stats] == [l["name"] for l in ref["layers"]]
    for mine, theirs in zip(stats, ref["layers"]):
        for k in ("cycles", "folds", "macs", "approx_macs", "exact_macs", "multiplier"):
            assert mine[k] == theirs[k], k
        assert mine["utilization"] == theirs["utilization"]
    assert acc.multiplier == ref["multiplier"]


def test_study_rows_equal_the_store(tmp_path, lenet, mnist):
    """A dict plan: the rows returned are the accelerator's accuracy on those images."""
    plan = {
        "name": "py-clean",
        "models": ["models/lenet5-mnist"],
        "schemes": ["asym-u8"],
        "multipliers": ["exact", "mul8u_L40"],
        "attacks": ["clean"],
        "threats": ["transfer"],
        "images": 120,
        "chunk": 60,
        "calib": 256,
        "calib_seed": 0,
    }
    rows, report = axdnn.study.run(plan, tmp_path / "study", progress=False)
    assert report.endswith("report.md") and (tmp_path / "study" / "report.md").is_file()
    x, y = mnist[0][:120], mnist[1][:120]
    accel = {r["multiplier"]: r for r in rows if r["target"] == "accel"}
    assert set(accel) == {"exact", "mul8u_L40"}
    for mult, r in accel.items():
        pred = axdnn.Accelerator(lenet, mult).predict(x)
        assert r["n"] == 120 and r["correct_images"] == list(map(bool, pred == y))
        assert r["accuracy"] == np.mean(pred == y)
    # A rerun measures nothing again and returns the same rows.
    again, _ = axdnn.study.run(plan, tmp_path / "study", progress=False)
    assert again == rows


def test_onnx_model_equals_its_folder(axdnn_cli, tmp_path, lenet, mnist):
    """`axdnn export` → `Model.from_onnx`: the same float logits and, quantized, the logits of
    `axdnn infer` on the original folder."""
    onnx = tmp_path / "lenet5.onnx"
    axdnn_cli.run("export", "--model", "models/lenet5-mnist", "--onnx", onnx)
    m = axdnn.Model.from_onnx(onnx)
    assert (m.input_shape, m.classes, m.dataset) == ((1, 28, 28), 10, "mnist")
    x = mnist[0][:200]
    assert np.array_equal(m.logits(x), lenet.logits(x))
    ref = json.loads(
        axdnn_cli.run(
            "infer", "--model", "models/lenet5-mnist", "--n", 200, "--multiplier", "mul8u_L40",
            "--scheme", "sign-magnitude", "--json",
        ).stdout
    )
    acc = axdnn.Accelerator(m, "mul8u_L40", scheme="sign-magnitude")
    assert logits_sha256(acc.logits(x)) == ref["logits_sha256"]


def test_a_numpy_table_is_a_multiplier(tmp_path, lenet, mnist):
    """A table made in NumPy and saved as .npy (rows = port B, the activation operand, as every
    table file) multiplies like the netlist it came from."""
    m = axdnn.Multiplier("mul8u_L40")
    path = tmp_path / "mine.npy"
    np.save(path, np.ascontiguousarray(m.table.T, dtype=np.int32))
    t = axdnn.Multiplier(f"{path}:unsigned")
    assert np.array_equal(t.table, m.table) and t.sha256 == m.sha256
    x = mnist[0][:100]
    assert np.array_equal(axdnn.Accelerator(lenet, t).logits(x), axdnn.Accelerator(lenet, m).logits(x))

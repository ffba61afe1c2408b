"""The framework adapters: BPDA through JAX (Foolbox 3.3.4's own attacks) agrees with the Rust
attacks under `--threat bpda`; ART's black-box SquareAttack runs against `Accelerator.predict`;
the PyTorch adapter where PyTorch is installed."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import axdnn
from conftest import require_torch

N = 200
# Budgets at which Foolbox's BIM step, float32(0.2 * eps) rounded from a Python float, equals
# axdnn's, float32(0.2) * float32(eps): there the two attacks take the same steps (see
# test_the_step_size_rounding_explains_eps_0_1 for a budget where they do not).
EPS = (0.03, 0.08)


@pytest.fixture(scope="module")
def l40(lenet):
    return axdnn.Accelerator(lenet, "mul8u_L40")


def test_jax_bpda_forward_and_backward(lenet, l40, mnist):
    import jax
    import jax.numpy as jnp

    f = axdnn.jax.bpda(l40, lenet)
    x = mnist[0][:32]
    g = np.random.default_rng(0).standard_normal((32, 10)).astype(np.float32)
    z = f(jnp.asarray(x))
    assert np.array_equal(np.asarray(z), l40.logits(x))
    grad = jax.grad(lambda x: jnp.sum(f(x) * g))(jnp.asarray(x))
    assert np.array_equal(np.asarray(grad), lenet.vjp(x, g))
    # Under jit as well.
    assert np.array_equal(np.asarray(jax.jit(f)(jnp.asarray(x))), l40.logits(x))


def cli_outcomes(axdnn_cli, out, attack, eps) -> dict:
    """Per-image outcomes (True = still correct) of `axdnn attack --threat bpda` on the
    accelerator with mul8u_L40 at each budget, read from the results store."""
    axdnn_cli.run(
        "attack", "--model", "models/lenet5-mnist", "--attack", attack, "--threat", "bpda",
        "--multiplier", "mul8u_L40", "--eps", ",".join(map(str, eps)), "--n", N, "--batch", N,
        "--out", out, "--json",
    )
    with open(out / "results.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["target"] == "accel"]
    outcomes = {}
    for r in rows:
        bits = [bool(int(ch, 16) >> (3 - i) & 1) for ch in r["correct_bits"] for i in range(4)]
        outcomes[float(r["epsilon"])] = np.array(bits[:N])
    return outcomes


def test_foolbox_bim_through_bpda_agrees_with_the_cli(axdnn_cli, tmp_path, lenet, l40, mnist):
    """Foolbox's own LinfBasicIterativeAttack on `axdnn.jax.bpda` gives the same per-image
    outcomes as `axdnn attack --attack linf-bim --threat bpda` (≥ 99 % of images)."""
    import foolbox as fb
    import jax.numpy as jnp

    x, y = mnist[0][:N], mnist[1][:N]
    fmodel = fb.JAXModel(axdnn.jax.bpda(l40, lenet), bounds=(0, 1))
    _, clipped, success = fb.attacks.LinfBasicIterativeAttack()(
        fmodel, jnp.asarray(x), jnp.asarray(y), epsilons=list(EPS)
    )
    ours = cli_outcomes(axdnn_cli, tmp_path / "bim", "linf-bim", EPS)
    clean = np.mean(l40.predict(x) == y)
    for eps, s, c in zip(EPS, success, clipped):
        robust = ~np.asarray(s)
        agree = np.mean(robust == ours[eps])
        print(f"eps {eps}: Foolbox LinfBIM robust {robust.mean():.3f}, axdnn {ours[eps].mean():.3f}, agreement {agree:.3f}")
        assert agree >= 0.99
        # The attack did something, and Foolbox's examples are inside the budget and the box.
        assert robust.mean() < clean - 0.05
        c = np.asarray(c)
        assert np.abs(c - x).max() <= eps + 1e-6 and c.min() >= 0 and c.max() <= 1


def bim(acc, model, x0, y, eps, step):
    """Linf BIM (Foolbox's defaults: 10 steps, no random start) with BPDA gradients, in NumPy:
    the seed is the cross-entropy's gradient at the accelerator's logits (in float64, as axdnn
    computes it), pulled back through the float model."""
    x = x0.copy()
    rows = np.arange(len(y))
    for _ in range(10):
        z = acc.logits(x).astype(np.float64)
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[rows, y] = 0
        p[rows, y] = -p.sum(1)
        g = model.vjp(x, p.astype(np.float32))
        x = x + step * np.sign(g).astype(np.float32)
        x = np.clip(x0 + np.clip(x - x0, -eps, eps), 0, 1).astype(np.float32)
    return acc.predict(x) == y


def test_the_step_size_rounding_explains_eps_0_1(axdnn_cli, tmp_path, lenet, l40, mnist):
    """At eps 0.1 Foolbox steps float32(0.2 * 0.1) = 0.02 and axdnn float32(0.2) * float32(0.1)
    = 0.020000001: one unit in the last place, which moves some pixels across a quantization
    step of the accelerator. The same BIM in NumPy reproduces each side exactly with its own
    step, so that rounding is the only difference between them (98.5 % agreement here)."""
    import foolbox as fb
    import jax.numpy as jnp

    x, y, eps = mnist[0][:N], mnist[1][:N], 0.1
    fmodel = fb.JAXModel(axdnn.jax.bpda(l40, lenet), bounds=(0, 1))
    _, _, success = fb.attacks.LinfBasicIterativeAttack()(fmodel, jnp.asarray(x), jnp.asarray(y), epsilons=eps)
    foolbox_robust = ~np.asarray(success)
    ours = cli_outcomes(axdnn_cli, tmp_path / "bim", "linf-bim", [eps])[eps]
    e = np.float32(eps)
    assert np.array_equal(bim(l40, lenet, x, y, e, np.float32(0.2 * eps)), foolbox_robust)
    assert np.array_equal(bim(l40, lenet, x, y, e, np.float32(0.2) * e), ours)
    print(f"eps 0.1: Foolbox and axdnn agree on {np.mean(foolbox_robust == ours):.3f} of the images")


def test_art_square_attack_lowers_accuracy(l40, mnist):
    from art.attacks.evasion import SquareAttack
    from art.estimators.classification import BlackBoxClassifierNeuralNetwork

    x, y = mnist[0][:40], mnist[1][:40]
    clf = BlackBoxClassifierNeuralNetwork(
        predict_fn=l40.logits, input_shape=(1, 28, 28), nb_classes=10, clip_values=(0.0, 1.0)
    )
    attack = SquareAttack(estimator=clf, norm=np.inf, eps=0.2, max_iter=60, nb_restarts=1, verbose=False)
    adv = attack.generate(x=x, y=y)
    assert np.abs(adv - x).max() <= 0.2 + 1e-6
    clean, robust = np.mean(l40.predict(x) == y), np.mean(l40.predict(adv.astype(np.float32)) == y)
    print(f"ART SquareAttack (Linf 0.2, 60 iterations): accuracy {clean:.3f} -> {robust:.3f}")
    assert robust < clean - 0.2


def test_torch_bpda(lenet, l40, mnist):
    require_torch()
    import torch

    m = axdnn.torch.bpda(l40, lenet)
    x = torch.from_numpy(mnist[0][:16]).requires_grad_(True)
    z = m(x)
    assert np.array_equal(z.detach().numpy(), l40.logits(mnist[0][:16]))
    g = torch.randn(16, 10)
    (z * g).sum().backward()
    assert np.array_equal(x.grad.numpy(), lenet.vjp(mnist[0][:16], g.numpy()))

#!/usr/bin/env python3
"""Foolbox 3.3.4 + JAX half of benches/foolbox/run.sh: the committed model rebuilt in JAX (the
forward pass of tests/fixtures/foolbox/gen_lenet5_fixture.py, which follows model.json's layer
list for any conv/relu/avg_pool/linear stack, so it serves AlexNet too), attacked on the images
that `examples/attack_speed --dump` wrote. Each attack runs once untimed (jit compilation of the
model and its gradient for this batch shape), then once timed; one JSON line per attack, in the
same fields as the axdnn side.
"""

import argparse
import json
import os
import sys
import time

# Both cores for XLA, as rayon gets them on the axdnn side (the fixture generator, imported
# below, would otherwise pin XLA to one thread).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("XLA_FLAGS", "")

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "fixtures", "foolbox"))

import numpy as np  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import foolbox  # noqa: E402
import foolbox.attacks as fa  # noqa: E402
from gen_lenet5_fixture import load_safetensors, make_forward  # noqa: E402

NAMES = {
    "fgsm": "LinfFastGradientAttack",
    "fgm": "L2FastGradientAttack",
    "linf-bim": "LinfBasicIterativeAttack",
    "l2-bim": "L2BasicIterativeAttack",
    "linf-pgd": "LinfProjectedGradientDescentAttack",
    "l2-pgd": "L2ProjectedGradientDescentAttack",
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True, help="model folder (model.json + model.safetensors)")
    ap.add_argument("--inputs", required=True, help="folder with images.npy and labels.npy")
    ap.add_argument("--attacks", default=",".join(NAMES), help="comma-separated attack names")
    ap.add_argument("--linf-eps", default="0.03", help="comma-separated Linf budgets (pixels)")
    ap.add_argument("--l2-eps", default="0.5", help="comma-separated L2 budgets (pixels)")
    a = ap.parse_args()

    with open(os.path.join(a.model, "model.json")) as fh:
        meta = json.load(fh)
    if meta["arch"].get("normalize"):
        sys.exit("foolbox_speed.py: models with input normalization are not rebuilt here")
    params, sha = load_safetensors(os.path.join(a.model, "model.safetensors"))
    assert sha == meta["sha256"], "model.safetensors does not match model.json's sha256"
    f = make_forward(meta, params)
    x = jnp.asarray(np.load(os.path.join(a.inputs, "images.npy")))
    labels = jnp.asarray(np.load(os.path.join(a.inputs, "labels.npy")).astype(np.int32))
    fmodel = foolbox.JAXModel(f, bounds=(0, 1))
    for name in a.attacks.split(","):
        cls = NAMES[name]
        eps = [float(e) for e in (a.linf_eps if cls.startswith("Linf") else a.l2_eps).split(",")]
        attack = getattr(fa, cls)()  # Foolbox defaults, as attack::run's default_params
        attack(fmodel, x, labels, epsilons=eps)  # warm-up: compiles for this shape
        t = time.perf_counter()
        _, _, success = attack(fmodel, x, labels, epsilons=eps)
        successes = [int(s) for s in np.asarray(success).sum(axis=1)]  # also waits for the result
        secs = time.perf_counter() - t
        n = int(x.shape[0])
        print(json.dumps({"side": "foolbox", "attack": cls, "eps": eps, "images": n, "seconds": secs,
                          "images_per_s": n / secs, "successes": successes}), flush=True)


if __name__ == "__main__":
    main()

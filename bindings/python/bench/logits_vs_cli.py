"""Speed: the Python path against the CLI for the accelerator's logits on 10,000 MNIST images.

Both run LeNet-5 (models/lenet5-mnist) on a 16x16 weight-stationary array with mul8u_L40 under
asym-u8 (the defaults otherwise) on the whole MNIST test set, doing the same work: `axdnn infer
--n 10000 --json` loads the model and the data, calibrates and quantizes, resolves the
multiplier, runs the images on the accelerator, measures the float model on them (the "float"
accuracy it prints) and hashes the logits; the Python job does the same through Model.load,
datasets.load, Accelerator(...), Accelerator.logits and Model.logits. Printed, wall and CPU time,
each the best of --repeat interleaved runs, with the ratio Python / CLI:
- whole job: both as above;
- per-image work (what grows with the images: accelerator and float logits): the CLI's whole
  time minus that of the same command on 1 image, against the two calls in Python.
Run from the repository root after `pip install ./bindings/python` and `cargo build --release`:

    python bindings/python/bench/logits_vs_cli.py [--repeat 5] [--cli target/release/axdnn]
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import json
import subprocess
import time

import numpy as np

import axdnn

MODEL, MULT, N = "models/lenet5-mnist", "mul8u_L40", 10_000


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--cli", default="target/release/axdnn")
    a = ap.parse_args()

    def cli(n):
        r = subprocess.run(
            [a.cli, "infer", "--model", MODEL, "--multiplier", MULT, "--n", str(n), "--json"],
            capture_output=True, text=True, check=True,
        )
        return json.loads(r.stdout)

    def python_job():
        m = axdnn.Model.load(MODEL)
        x, _ = axdnn.datasets.load("mnist", "test", n=N)
        z = axdnn.Accelerator(m, MULT).logits(x)
        m.logits(x)  # the float accuracy `infer` prints beside the accelerator's
        return z

    model = axdnn.Model.load(MODEL)
    acc = axdnn.Accelerator(model, MULT)
    x, _ = axdnn.datasets.load("mnist", "test", n=N)
    jobs = {
        "cli": lambda: cli(N),
        "cli1": lambda: cli(1),
        "py": python_job,
        "acc": lambda: acc.logits(x),
        "float": lambda: model.logits(x),
    }
    # Interleaved, so that a change in the machine's load affects both sides alike.
    # Wall time, and CPU time (this process's and its children's, all threads): on a machine
    # shared with other work the CPU time varies much less.
    def cpu():
        own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

    times = {k: [] for k in jobs}
    cpus = {k: [] for k in jobs}
    out = {}
    for _ in range(a.repeat):
        for k, f in jobs.items():
            t, c = time.perf_counter(), cpu()
            out[k] = f()
            times[k].append(time.perf_counter() - t)
            cpus[k].append(cpu() - c)
    t = {k: min(v) for k, v in times.items()}
    c = {k: min(v) for k, v in cpus.items()}
    digest = hashlib.sha256(np.ascontiguousarray(out["py"], dtype="<f4").tobytes()).hexdigest()
    assert digest == out["cli"]["logits_sha256"], "the Python logits differ from the CLI's"

    print(f"{N} MNIST images, LeNet-5, {MULT}, asym-u8, 16x16 WS; best of {a.repeat}; logits identical")
    for what, d in (("wall", t), ("CPU", c)):
        cli_job, py_job = d["cli"], d["py"]
        cli_img, py_img = d["cli"] - d["cli1"], d["acc"] + d["float"]
        print(f"{what} time, whole job:      CLI {cli_job:.3f} s, Python {py_job:.3f} s, ratio {py_job / cli_job:.3f}")
        print(
            f"{what} time, per-image work: CLI {cli_img:.3f} s, Python {py_img:.3f} s (Accelerator.logits "
            f"{d['acc']:.3f} s, Model.logits {d['float']:.3f} s), ratio {py_img / cli_img:.3f}"
        )


if __name__ == "__main__":
    main()

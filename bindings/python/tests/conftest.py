"""Shared fixtures: where the repository, the `axdnn` command, the data and the EvoApprox library
are, and the CI rule of the Rust tests (tests/common/mod.rs): a missing input is a visible skip
on a developer machine and a failure under CI (`CI` set and non-empty), so CI never passes
vacuously. The one exception is PyTorch (see `require_torch`), which CI does not install."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[3]


def ci() -> bool:
    return bool(os.environ.get("CI"))


def missing(why: str):
    """Skip (printing why) outside CI; fail under CI."""
    if ci():
        pytest.fail(f"{why}, and CI is set: nothing may be skipped under CI")
    print(f"SKIPPED: {why}", file=sys.stderr)
    pytest.skip(why)


def shared(var: str, sub: str) -> Path:
    """A third-party folder: `$var`, else `../shared/<sub>` beside the checkout (as the CLI)."""
    v = os.environ.get(var)
    if v:
        if Path(v).is_dir():
            return Path(v)
        missing(f"{var}={v} is not a folder")
    p = ROOT.parent / "shared" / sub
    if p.is_dir():
        return p
    missing(f"{var} unset and {p} absent")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return shared("AXDNN_DATA", "data")


@pytest.fixture(scope="session")
def evoapprox_dir() -> Path:
    return shared("AXDNN_EVOAPPROX", "evoapprox")


@pytest.fixture(scope="session")
def cli() -> Path:
    """The `axdnn` command: `$AXDNN_CLI` (tests/python.rs passes the one cargo built), else
    target/release/axdnn."""
    p = Path(os.environ.get("AXDNN_CLI") or ROOT / "target" / "release" / "axdnn")
    if not p.is_file():
        missing(f"no axdnn command at {p} (build it with cargo build --release, or set AXDNN_CLI)")
    return p


class Cli:
    def __init__(self, exe: Path, data: Path, evoapprox: Path):
        self.exe = exe
        self.env = dict(os.environ, AXDNN_DATA=str(data), AXDNN_EVOAPPROX=str(evoapprox))

    def run(self, *args, ok: bool = True) -> subprocess.CompletedProcess:
        """Run `axdnn args…` in the repository root; with `ok`, fail on a non-zero exit."""
        r = subprocess.run(
            [str(self.exe), *map(str, args)], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if ok and r.returncode != 0:
            pytest.fail(f"axdnn {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}")
        return r

    def error(self, *args) -> str:
        """The message of a failing command (its `error: ` line, without the prefix)."""
        r = self.run(*args, ok=False)
        assert r.returncode == 1, f"axdnn {args} should fail; stdout:\n{r.stdout}"
        lines = [l for l in r.stderr.splitlines() if l.startswith("error: ")]
        assert len(lines) == 1, r.stderr
        return lines[0][len("error: ") :]


@pytest.fixture(scope="session")
def axdnn_cli(cli, data_dir, evoapprox_dir) -> Cli:
    return Cli(cli, data_dir, evoapprox_dir)


@pytest.fixture(scope="session", autouse=True)
def _environment(data_dir, evoapprox_dir):
    """The package finds the folders as the CLI does; point both at the same ones, and run in
    the repository root so that `models/…` paths mean the same to both."""
    os.environ["AXDNN_DATA"] = str(data_dir)
    os.environ["AXDNN_EVOAPPROX"] = str(evoapprox_dir)
    os.chdir(ROOT)


@pytest.fixture(scope="session")
def lenet():
    import axdnn

    return axdnn.Model.load("models/lenet5-mnist")


@pytest.fixture(scope="session")
def mnist():
    import axdnn

    return axdnn.datasets.load("mnist", "test", n=1000)


def logits_sha256(z: np.ndarray) -> str:
    """sha256 of float32 logits as `axdnn infer --json` hashes them (little-endian, row-major)."""
    return hashlib.sha256(np.ascontiguousarray(z, dtype="<f4").tobytes()).hexdigest()


def require_torch():
    """PyTorch is not installed by CI (its wheel is huge): the one allowed skip, printed."""
    try:
        import torch  # noqa: F401
    except ImportError:
        print("SKIPPED: PyTorch is not installed (the torch adapter is tested where it is)", file=sys.stderr)
        pytest.skip("PyTorch is not installed")

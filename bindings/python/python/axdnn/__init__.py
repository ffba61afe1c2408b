"""axdnn: approximate DNN accelerators simulated bit for bit, callable from Python.

The classes are the Rust library's (``axdnn._axdnn``): :class:`Multiplier`, :class:`Netlist`,
:class:`Model`, :class:`Accelerator`. Submodules: :mod:`axdnn.datasets` (MNIST, CIFAR-10 as
NumPy arrays), :mod:`axdnn.study` (study plans), and the framework adapters :mod:`axdnn.jax`
and :mod:`axdnn.torch` (BPDA: the accelerator forward, the float model backward), imported on
use so that neither framework is needed otherwise.

Errors of the library raise :class:`AxdnnError` with the message the ``axdnn`` command prints;
malformed arguments (shape, dtype, range, setting names) raise ``ValueError``.
"""

from ._axdnn import Accelerator, AxdnnError, Model, Multiplier, Netlist, __version__
from . import datasets, study



def __getattr__(name):
    # `axdnn.jax` and `axdnn.torch` import their framework: only on first use (PEP 562), so that
    # `import axdnn` needs neither.
    if name in ("jax", "torch"):
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Accelerator",
    "AxdnnError",
    "Model",
    "Multiplier",
    "Netlist",
    "datasets",
    "jax",
    "study",
    "torch",
    "__version__",
]

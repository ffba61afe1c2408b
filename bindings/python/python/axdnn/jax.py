"""BPDA for JAX: the simulated accelerator as a differentiable JAX function.

``bpda(accelerator, model)`` returns ``f(x) -> logits`` whose forward pass is the accelerator's
integer inference (run on the host through ``jax.pure_callback``) and whose backward pass is the
float model's vector-Jacobian product at the same input (``jax.custom_vjp``): Backward Pass
Differentiable Approximation (Athalye et al., 2018), the threat model ``axdnn attack --threat
bpda`` uses. Foolbox's ``JAXModel`` takes ``f`` as it is::

    fmodel = foolbox.JAXModel(axdnn.jax.bpda(acc, model), bounds=(0, 1))
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._axdnn import Accelerator, Model


def _callback(fn, result_shape, *args):
    # `vmap_method` is how JAX >= 0.4.34 is told that the host function takes a whole batch;
    # older JAX has no such argument (and vmaps callbacks one element at a time).
    try:
        return jax.pure_callback(fn, result_shape, *args, vmap_method="expand_dims")
    except TypeError:
        return jax.pure_callback(fn, result_shape, *args)


def bpda(accelerator: Accelerator, model: Model) -> Callable[[jax.Array], jax.Array]:
    """A JAX function of images ``(N, C, H, W)`` in [0, 1] returning the accelerator's logits
    ``(N, classes)``, differentiable through the float ``model`` (which should be the model the
    accelerator was quantized from)."""
    if tuple(accelerator.input_shape) != tuple(model.input_shape) or accelerator.classes != model.classes:
        raise ValueError(
            f"model: expected the accelerator's network (input {accelerator.input_shape}, "
            f"{accelerator.classes} classes); got input {model.input_shape}, {model.classes} classes"
        )
    classes = accelerator.classes

    def host_logits(x):
        return np.asarray(accelerator.logits(np.asarray(x, dtype=np.float32)), dtype=np.float32)

    def host_vjp(x, g):
        return np.asarray(model.vjp(np.asarray(x, dtype=np.float32), np.asarray(g, dtype=np.float32)))

    @jax.custom_vjp
    def f(x):
        shape = jax.ShapeDtypeStruct((x.shape[0], classes), jnp.float32)
        return _callback(host_logits, shape, x)

    def fwd(x):
        return f(x), x

    def bwd(x, g):
        grad = _callback(host_vjp, jax.ShapeDtypeStruct(x.shape, jnp.float32), x, g)
        return (grad.astype(x.dtype),)

    f.defvjp(fwd, bwd)
    return f

"""BPDA for PyTorch: the simulated accelerator as a ``torch.nn.Module``.

``bpda(accelerator, model)`` returns a module whose forward pass is the accelerator's integer
inference and whose backward pass is the float model's vector-Jacobian product at the same input
(Backward Pass Differentiable Approximation, the threat model of ``axdnn attack --threat bpda``),
for AutoAttack, torchattacks and any attack written against a PyTorch classifier. Tensors go
through the CPU (the simulation runs there).
"""

from __future__ import annotations

import numpy as np
import torch

from ._axdnn import Accelerator, Model


class _Bpda(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, accelerator, model):  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.model = model
        z = accelerator.logits(x.detach().cpu().numpy().astype(np.float32, copy=False))
        return torch.from_numpy(np.asarray(z)).to(device=x.device, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        gx = ctx.model.vjp(
            x.detach().cpu().numpy().astype(np.float32, copy=False),
            g.detach().cpu().numpy().astype(np.float32, copy=False),
        )
        return torch.from_numpy(np.asarray(gx)).to(device=x.device, dtype=x.dtype), None, None


class Bpda(torch.nn.Module):
    """Logits of the accelerator, gradients of the float model (see :func:`bpda`)."""

    def __init__(self, accelerator: Accelerator, model: Model):
        super().__init__()
        if tuple(accelerator.input_shape) != tuple(model.input_shape) or accelerator.classes != model.classes:
            raise ValueError(
                f"model: expected the accelerator's network (input {accelerator.input_shape}, "
                f"{accelerator.classes} classes); got input {model.input_shape}, {model.classes} classes"
            )
        self.accelerator = accelerator
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _Bpda.apply(x, self.accelerator, self.model)


def bpda(accelerator: Accelerator, model: Model) -> Bpda:
    """A ``torch.nn.Module`` of images ``(N, C, H, W)`` in [0, 1] returning the accelerator's
    logits ``(N, classes)``, differentiable through the float ``model``."""
    return Bpda(accelerator, model)

"""Straight-through Gumbel-softmax over architecture logits, and the temperature schedule.

For logits α (..., n): g_o = −log(−log u_o), u ~ U(0, 1);
    forward  y = one_hot(argmax_o(log_softmax(α)_o + g_o))
    backward through  y_soft = softmax((log_softmax(α) + g) / τ)
i.e. ``y = y_hard − stop_grad(y_soft) + y_soft`` (value one-hot, gradient of the soft sample).
At evaluation the choice is ``argmax α`` with no noise.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F


def gumbel_noise(shape: torch.Size | tuple[int, ...], generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Standard Gumbel samples g = −log(−log u), u ~ U(0, 1), from ``generator``."""
    u = torch.rand(shape, generator=generator).clamp(1e-10, 1.0 - 1e-10)
    return (-torch.log(-torch.log(u))).to(device)


def st_gumbel(logits: torch.Tensor, tau: float, generator: torch.Generator | None = None,
              noise: torch.Tensor | None = None) -> torch.Tensor:
    """Straight-through Gumbel-softmax sample of the last dimension of ``logits`` (..., n).

    Returns a tensor of the same shape whose value is one-hot and whose gradient is that of
    softmax((log_softmax(logits) + g) / tau). ``noise`` (same shape) overrides the drawn g (tests).
    """
    g = gumbel_noise(logits.shape, generator, logits.device) if noise is None else noise
    y_soft = F.softmax((F.log_softmax(logits, dim=-1) + g) / tau, dim=-1)
    index = y_soft.argmax(dim=-1, keepdim=True)
    y_hard = torch.zeros_like(y_soft).scatter_(-1, index, 1.0)
    return y_hard - y_soft.detach() + y_soft


def argmax_onehot(logits: torch.Tensor) -> torch.Tensor:
    """Evaluation choice: one-hot of argmax over the last dimension (no noise, no gradient)."""
    return torch.zeros_like(logits).scatter_(-1, logits.argmax(dim=-1, keepdim=True), 1.0).detach()


def tau_at(step: int, steps_per_epoch: int, *, schedule: str = "epoch", tau0: float = 1.0,
           tau_min: float = 0.2, rate: float = 0.02, total_steps: int = 1, stair_every: int = 100) -> float:
    """Temperature at search ``step`` (0-based).

    ``epoch`` (PyTorch code): τ = max(τ0·exp(−rate·epoch), τ_min), epoch = step // steps_per_epoch.
    ``staircase`` (TF code): τ = τ0·r^⌊step/stair_every⌋ with r chosen so that τ reaches τ_min at
    ``total_steps`` (the decay keeps going after that, as in the TF code).
    """
    if schedule == "epoch":
        epoch = step // max(1, steps_per_epoch)
        return max(tau0 * math.exp(-rate * epoch), tau_min)
    r = (tau_min / tau0) ** (stair_every / max(1, total_steps))
    return tau0 * r ** (step // stair_every)


def sample_entropy(probs: torch.Tensor) -> torch.Tensor:
    """Mean entropy (nats) of the rows of ``probs`` (..., n)."""
    p = probs.clamp_min(1e-12)
    return -(p * p.log()).sum(-1).mean()


def sample_many(logits: torch.Tensor, tau: float, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` straight-through samples of one logit vector (k,): hard one-hots (n, k) and the soft
    samples softmax((log_softmax(α) + g)/τ) (n, k) that carry the gradient (Gumbel demo)."""
    g = gumbel_noise((n, logits.shape[-1]), torch.Generator().manual_seed(seed), logits.device)
    soft = F.softmax((F.log_softmax(logits, -1) + g) / tau, -1)
    hard = torch.zeros_like(soft).scatter_(-1, soft.argmax(-1, keepdim=True), 1.0)
    return hard, soft

"""AdamW with BERT-style weight-decay groups and the linear warmup / linear decay schedule.

Both follow the reference scripts (docs/methods/hrkd.md §1.3): ``torch.optim.AdamW(betas=(0.9, 0.999),
eps=1e-8)``, weight decay 0.01 on every parameter except biases and LayerNorm weights, and a learning
rate multiplier

    λ(s) = s / W                      for s < W          (W = int(warmup_ratio · S))
    λ(s) = max(0, (S - s) / (S - W))  for s ≥ W

stepped once per optimiser step, so the rate rises linearly to ``lr`` over the first ``W`` steps and
falls linearly to 0 at step ``S``. The scheduler object is Hugging Face's
``get_linear_schedule_with_warmup`` (same multiplier).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from hrkd_lite.errors import HrkdError

NO_DECAY: tuple[str, ...] = ("bias", "LayerNorm.weight", "layernorm.weight", "norm.weight")

ParamsLike = nn.Module | Iterable[tuple[str, nn.Parameter]] | Iterable[nn.Parameter]


def _named(params: ParamsLike) -> list[tuple[str | None, nn.Parameter]]:
    """Normalise a module / named parameters / bare parameters into ``(name or None, param)`` pairs."""
    if isinstance(params, nn.Module):
        return list(params.named_parameters())
    out: list[tuple[str | None, nn.Parameter]] = []
    for item in params:
        if isinstance(item, torch.Tensor):
            out.append((None, item))
        elif isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], torch.Tensor):
            out.append((str(item[0]), item[1]))
        else:
            raise HrkdError(
                f"build_optimizer got {type(item).__name__!r}; expected an nn.Module, "
                "(name, parameter) pairs or parameters"
            )
    return out


def param_groups(
    params: ParamsLike,
    weight_decay: float = 0.01,
    no_decay: Sequence[str] = NO_DECAY,
) -> list[dict]:
    """Split trainable parameters into a decay group and a no-decay group.

    A parameter goes to the no-decay group (``weight_decay = 0``) when its name contains any of the
    ``no_decay`` substrings. Parameters without names (bare tensors) are decayed. Parameters with
    ``requires_grad=False`` are left out, and a parameter seen twice (tied weights) is kept once.
    Empty groups are dropped; the order is always ``[decay, no_decay]``.
    """
    decay: list[nn.Parameter] = []
    skip: list[nn.Parameter] = []
    seen: set[int] = set()
    for name, p in _named(params):
        if not p.requires_grad or id(p) in seen:
            continue
        seen.add(id(p))
        if name is not None and any(nd in name for nd in no_decay):
            skip.append(p)
        else:
            decay.append(p)
    groups = [
        {"params": decay, "weight_decay": float(weight_decay)},
        {"params": skip, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def build_optimizer(
    module_or_named_params: ParamsLike,
    lr: float,
    weight_decay: float = 0.01,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    no_decay: Sequence[str] = NO_DECAY,
) -> torch.optim.AdamW:
    """``torch.optim.AdamW`` over the trainable parameters, with the BERT no-decay split.

    Args:
        module_or_named_params: an ``nn.Module``, an iterable of ``(name, parameter)`` pairs (e.g.
            ``module.named_parameters()``) or of bare parameters (all decayed).
        lr: peak learning rate (the scheduler scales it).
        weight_decay: decoupled weight decay of the decay group.
        betas, eps: AdamW constants (reference: (0.9, 0.999), 1e-8).
        no_decay: name substrings whose parameters get no weight decay.

    Raises:
        HrkdError: when there is no trainable parameter.
    """
    groups = param_groups(module_or_named_params, weight_decay, no_decay)
    if not groups:
        raise HrkdError("build_optimizer: no trainable parameters (all have requires_grad=False)")
    # The fused kernel updates each tensor in one pass: on 2 CPU cores a step over a 30522 x 384 word
    # embedding table takes 0.02 s instead of 0.2 s (measured), the same update up to float rounding.
    kinds = {p.device.type for g in groups for p in g["params"]}
    fused = kinds <= {"cpu", "cuda"} and all(p.is_floating_point() for g in groups for p in g["params"])
    return torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                             fused=fused or None)


def warmup_decay_factor(total_steps: int, warmup_ratio: float = 0.1) -> Callable[[int], float]:
    """The multiplier λ(s) of the module docstring as a plain function of the step ``s``."""
    total = int(total_steps)
    warmup = int(warmup_ratio * total)

    def factor(step: int) -> float:
        if step < warmup:
            return float(step) / float(max(1, warmup))
        return max(0.0, float(total - step) / float(max(1, total - warmup)))

    return factor


def linear_warmup_decay(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_ratio: float = 0.1,
) -> torch.optim.lr_scheduler.LambdaLR:
    """``transformers.get_linear_schedule_with_warmup`` with ``W = int(warmup_ratio * total_steps)``.

    Its multiplier is exactly λ(s) of the module docstring (:func:`warmup_decay_factor`, kept as the
    readable formula; a test checks both agree). Call ``scheduler.step()`` once after every
    ``optimizer.step()``. The rate used by optimiser step ``s`` (0-based) is ``lr · λ(s)``; in particular
    the very first step uses 0 when there is a warmup.
    """
    if total_steps < 1:
        raise HrkdError(f"linear_warmup_decay: total_steps must be >= 1, got {total_steps}")
    if not 0.0 <= warmup_ratio <= 1.0:
        raise HrkdError(f"linear_warmup_decay: warmup_ratio must be in [0, 1], got {warmup_ratio}")
    return get_linear_schedule_with_warmup(optimizer, int(warmup_ratio * total_steps), int(total_steps))

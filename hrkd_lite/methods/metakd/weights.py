"""Domain-expertise weights λ_i for meta-distillation (docs/methods/meta_kd.md §4).

Reference code [C] (identical in the authors' ``meta_distill.py`` and EasyNLP's
``MetaDistillationTrainer``)::

    grt   = 1 / (exp(sum(((p - onehot) * onehot) ** 2)) + 1)      # = 1 / (1 + exp((1 - p_y)^2))
    final = (1 + sample_weights) * grt

i.e.  λ_i = (1 + t_i) · 1 / (1 + exp((1 − p_T(y_i | x_i))²)).

The second factor lies in [1/(1+e), 1/2] ≈ [0.269, 0.5]: 0.5 for a confident, correct teacher,
0.269 for a confidently wrong one.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hrkd_lite.errors import HrkdError


def teacher_correctness_factor(p_gold: Tensor) -> Tensor:
    """1 / (1 + exp((1 − p)²)) elementwise; ``p_gold`` any shape, values in [0, 1]."""
    return 1.0 / (1.0 + torch.exp((1.0 - p_gold) ** 2))


def expertise_weights_from_prob(p_gold: Tensor, scores: Tensor) -> Tensor:
    """λ = (1 + t)·1/(1 + exp((1 − p)²)) for broadcastable ``p_gold`` and ``scores`` (docs/methods/meta_kd.md §4)."""
    return (1.0 + scores) * teacher_correctness_factor(p_gold)


def expertise_weights(teacher_logits: Tensor, labels: Tensor, scores: Tensor) -> Tensor:
    """Per-example domain-expertise weights λ_i.

    Args:
        teacher_logits: (B, C) meta-teacher logits on the student's batch.
        labels: (B,) gold class ids y_i.
        scores: (B,) prototype scores t_i of the same examples.

    Returns:
        (B,) λ_i, detached (weights, not a training signal for the teacher).
    """
    if teacher_logits.dim() != 2 or labels.shape != teacher_logits.shape[:1] or scores.shape != labels.shape:
        raise HrkdError(f"expected logits (B, C), labels (B,), scores (B,); got {tuple(teacher_logits.shape)}, "
                        f"{tuple(labels.shape)}, {tuple(scores.shape)}")
    probs = torch.softmax(teacher_logits.detach().float(), dim=-1)
    p_gold = probs.gather(1, labels.long()[:, None]).squeeze(1)
    return expertise_weights_from_prob(p_gold, scores.detach().float().to(p_gold.device))


def expertise_weight_grid(num_p: int = 51, t_range: tuple[float, float] = (-0.2, 1.0),
                          num_t: int = 49) -> tuple[Tensor, Tensor, Tensor]:
    """The λ surface over (p_T(y|x), t) for the notebook plot.

    Returns:
        ``p`` (num_p,), ``t`` (num_t,), ``lam`` (num_t, num_p) with ``lam[j, i] = λ(p[i], t[j])``.
    """
    p = torch.linspace(0.0, 1.0, num_p)
    t = torch.linspace(t_range[0], t_range[1], num_t)
    lam = expertise_weights_from_prob(p[None, :], t[:, None])
    return p, t, lam

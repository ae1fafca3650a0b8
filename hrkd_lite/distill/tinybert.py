"""TinyBERT intermediate-layer losses, per layer, reused by TinyBERT-KD, Meta-KD and HRKD.

docs/methods/background.md §6 and docs/methods/hrkd.md §2.1, for student layers m = 1..M and teacher layers g(m):

- L_emb = MSE(fit_0(H^S[0]), H^T[0])
- L_attn(m) = MSE(Z(A^S[m]), Z(A^T[g(m)])) on pre-softmax scores, Z zeroing masked entries
- L_hid(m) = MSE(fit_m(H^S[m]), H^T[g(m)])

HRKD's total (docs/methods/hrkd.md §2.5) weights them per layer: w_0·L_emb + Σ_m w_m·(L_attn(m) + L_hid(m)); see
:func:`tinybert_total`. The prediction term (soft CE) is separate: ``losses.soft_cross_entropy``.

Model outputs are used by duck typing: any object with ``.hidden_states`` (list of L+1 tensors
(B, T, H), index 0 = embeddings) and ``.attention_scores`` (list of L tensors (B, h, T, T)). Nothing is
detached; run the teacher under ``torch.no_grad()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.losses import attention_score_mse, hidden_mse
from hrkd_lite.errors import HrkdError
from hrkd_lite.models.bert import MASKED_THRESHOLD

__all__ = ["tinybert_layer_losses", "tinybert_total"]

_INDEX_KEYS = ("attn_teacher", "attn_student", "hid_teacher", "hid_student")


def _normalise_indices(indices: Mapping[str, Sequence[int]] | Sequence[int]) -> dict[str, list[int]]:
    if not isinstance(indices, Mapping):
        return indices_from_map(indices)
    missing = [k for k in _INDEX_KEYS if k not in indices]
    if missing:
        raise HrkdError(f"layer indices lack keys {missing}; build them with tinybert_indices(L, M)")
    out = {k: [int(i) for i in indices[k]] for k in _INDEX_KEYS}
    m_count = len(out["attn_student"])
    if len(out["attn_teacher"]) != m_count or not (
        len(out["hid_teacher"]) == len(out["hid_student"]) == m_count + 1
    ):
        raise HrkdError(
            "layer indices need M attention pairs and M+1 hidden pairs; got "
            + ", ".join(f"{k}={len(out[k])}" for k in _INDEX_KEYS)
        )
    return out


def _pick(seq: Sequence[Tensor], index: int, who: str, what: str) -> Tensor:
    try:
        return seq[index]
    except IndexError:
        raise HrkdError(f"{who} {what} has {len(seq)} entries; index {index} is out of range") from None


def tinybert_layer_losses(
    student_out: Any,
    teacher_out: Any,
    fit: nn.Module | Sequence[nn.Module] | None,
    indices: Mapping[str, Sequence[int]] | Sequence[int],
    reduction: str = "mean",
    threshold: float = MASKED_THRESHOLD,
) -> dict[str, Any]:
    """Per-layer TinyBERT terms between a student and a teacher forward pass.

    Args:
        student_out: has ``.hidden_states`` (M+1 × (B, T, H_s)) and ``.attention_scores`` (M × (B, h, T, T)).
        teacher_out: has ``.hidden_states`` (L+1 × (B, T, H_t)) and ``.attention_scores`` (L × (B, h, T, T)).
        fit: ``FitDenses`` (or any indexable of modules) with ``fit[0]`` for the embeddings and ``fit[m]``
            for student layer m; None = no projection (H_s must equal H_t).
        indices: dict from ``layer_maps.tinybert_indices(L, M)``, or a map [g(0), ..., g(M)] such as
            ``uniform_map(L, M)``.
        reduction: "mean" (scalars, all elements) or "none" ((B,) per example).
        threshold: attention scores ≤ this are masked (set to 0 on both sides).

    Returns:
        ``{"emb": Tensor, "attn": [Tensor] * M, "hid": [Tensor] * M}``, list entry m−1 for student layer m.
    """
    idx = _normalise_indices(indices)
    m_count = len(idx["attn_student"])
    if fit is not None and len(fit) < m_count + 1:
        raise HrkdError(
            f"fit has {len(fit)} projections; {m_count + 1} needed (embeddings + {m_count} layers)"
        )

    def proj(m: int) -> nn.Module | None:
        return None if fit is None else fit[m]

    s_hid, t_hid = student_out.hidden_states, teacher_out.hidden_states
    s_att, t_att = student_out.attention_scores, teacher_out.attention_scores

    def hid_term(m: int) -> Tensor:
        s = _pick(s_hid, idx["hid_student"][m], "student", "hidden_states")
        t = _pick(t_hid, idx["hid_teacher"][m], "teacher", "hidden_states")
        return hidden_mse(s, t, proj(m), reduction=reduction)

    attn = []
    for k in range(m_count):
        s = _pick(s_att, idx["attn_student"][k], "student", "attention_scores")
        t = _pick(t_att, idx["attn_teacher"][k], "teacher", "attention_scores")
        attn.append(attention_score_mse(s, t, threshold=threshold, reduction=reduction))
    return {"emb": hid_term(0), "attn": attn, "hid": [hid_term(m) for m in range(1, m_count + 1)]}


def tinybert_total(
    terms: Mapping[str, Any],
    weights: Sequence[float | Tensor] | Tensor | None = None,
) -> Tensor:
    """Σ of the TinyBERT terms: w_0·L_emb + Σ_{m=1..M} w_m·(L_attn(m) + L_hid(m)) (docs/methods/hrkd.md §2.5).

    Args:
        terms: output of :func:`tinybert_layer_losses` (scalars, or (B,) tensors for reduction "none").
        weights: None (all 1, plain TinyBERT / multi-domain TinyBERT-KD), or length M+1: ``w[0]`` for the
            embeddings, ``w[m]`` for layer m (HRKD: one domain's graph weights w_m[d], may carry grad).

    Returns:
        Same shape as the terms.
    """
    m_count = len(terms["attn"])
    if len(terms["hid"]) != m_count:
        raise HrkdError(f"terms have {m_count} attention but {len(terms['hid'])} hidden entries")
    if weights is None:
        weights = [1.0] * (m_count + 1)
    if len(weights) != m_count + 1:
        raise HrkdError(f"weights need M+1 = {m_count + 1} entries (embeddings + layers), got {len(weights)}")
    total = weights[0] * terms["emb"]
    for m in range(1, m_count + 1):
        total = total + weights[m] * (terms["attn"][m - 1] + terms["hid"][m - 1])
    return torch.as_tensor(total) if not isinstance(total, Tensor) else total

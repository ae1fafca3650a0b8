"""Meta-distillation losses: stage 1 (intermediate layers + TKD) and stage 2 (prediction layer) (docs/methods/meta_kd.md §4).

Stage 1 [C] (authors' ``meta_distill.py``, ``not args.pred_distill`` branch), per example i:

    L_att,i = Σ_l MSE_i(A^S_l, A^T_{g(l)})          pre-softmax scores, entries ≤ −100 (masks) zeroed
    L_rep,i = Σ_l MSE_i(W_fit H^S_l, H^T_{g(l)})    l = 0 is the embedding output
    L_TKD   = MSE(W_fit z^S, z^T)                    z = W_c(h̄ + E_D(d)), the pre-tanh corrupted feature
    L_1     = mean_i λ_i · [L_rep,i + L_att,i + γ₂ L_TKD]

``instance_weighting="batch_mean"`` reproduces the EasyNLP bug (docs/methods/meta_kd.md §5.1): every term is already a
batch mean when it is multiplied by λ_i, so L_1 = mean(λ) · [mean L_rep + mean L_att + γ₂ L_TKD].
In both codes L_TKD is one batch scalar; passing a (B,) tensor weights it per example instead.

Stage 2 [C]: L_2 = (1 / (B·C)) Σ_i Σ_c −softmax(z^T_i / T)_c · log_softmax(z^S_i / T)_c — the mean over
batch AND classes of the authors' TinyBERT-derived ``soft_cross_entropy`` (``reduction="mean_classes"``,
the default); ``"batchmean"`` is the batch mean of the per-example class sum, C × larger. No hard labels,
no λ, no T² (``pred_lambda_weighting`` turns λ on, paper? [M]).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from hrkd_lite.distill.losses import hidden_mse, soft_cross_entropy
from hrkd_lite.distill.tinybert import tinybert_layer_losses
from hrkd_lite.errors import HrkdError, check_choice


def per_instance_mse(a: Tensor, b: Tensor) -> Tensor:
    """MSE averaged over every non-batch dim: (B, ...) x (B, ...) -> (B,) (``reduction="none"``)."""
    return hidden_mse(a, b, None, reduction="none")


def intermediate_terms(student_out: Any, teacher_out: Any, fit: nn.Module,
                       indices: Mapping[str, Sequence[int]] | Sequence[int]) -> tuple[Tensor, Tensor]:
    """Per-example L_rep,i and L_att,i via the shared TinyBERT terms (``distill.tinybert``).

    Args:
        student_out: ``.hidden_states`` M+1 x (B, T, H_s) (0 = embeddings), ``.attention_scores``
            M x (B, h, T, T) pre-softmax with the additive mask.
        teacher_out: the same for the teacher, L+1 and L entries (computed under ``no_grad``).
        fit: the one W_fit (H_s -> H_t) shared by every hidden state and by L_TKD (docs/methods/meta_kd.md §4).
        indices: ``tinybert_indices(L, M)`` or a map [0, g(1), .., g(M)]; lpb = 2 gives attention
            targets [1, 3, 5] and hidden targets [0, 2, 4, 6] (docs/methods/meta_kd.md §8).

    Returns:
        ``rep`` (B,) = L_emb,i + Σ_l L_hid,i(l);  ``att`` (B,) = Σ_l L_att,i(l) (masked entries zeroed).
    """
    num = len(student_out.hidden_states)
    terms = tinybert_layer_losses(student_out, teacher_out, [fit] * num, indices, reduction="none")
    rep = terms["emb"] + sum(terms["hid"])
    att = sum(terms["attn"])
    return rep, att


def tkd_loss(student_feature: Tensor, teacher_feature: Tensor, fit: nn.Module,
             teacher_fit: nn.Module | None = None, reduction: str = "mean") -> Tensor:
    """Transferable-knowledge distillation L_TKD = MSE(W_fit z^S, z^T) on pre-tanh corrupted features.

    Args:
        student_feature: (B, H_s) the student's W^S_c(h̄^S + E^S_D(d)).
        teacher_feature: (B, H_t) the meta-teacher's W^T_c(h̄^T + E^T_D(d)).
        fit: the shared W_fit (same module as for the hidden states).
        teacher_fit: None (authors: target unprojected) or a module applied to the teacher side too
            (EasyNLP bug, docs/methods/meta_kd.md §5.2; a fresh, untrained projection makes the target random).
        reduction: ``"mean"`` -> scalar (both codes), ``"none"`` -> (B,).
    """
    check_choice("reduction", reduction, ("mean", "none"))
    target = teacher_feature.detach()
    if teacher_fit is not None:
        target = teacher_fit(target)
    per = hidden_mse(student_feature, target, fit, reduction="none")
    return per.mean() if reduction == "mean" else per


def stage1_loss(rep: Tensor, att: Tensor, tkd: Tensor | float | None, weights: Tensor | None,
                tkd_weight: float = 0.5, instance_weighting: str = "per_instance") -> Tensor:
    """L_1 from per-example terms (docs/methods/meta_kd.md §4, §5.1).

    Args:
        rep: (B,) L_rep,i.   att: (B,) L_att,i.
        tkd: scalar L_TKD (both codes), (B,) per example, or None (no TKD: teachers without a corruption
            head).
        weights: (B,) λ_i, or None for plain TinyBERT (λ ≡ 1).
        tkd_weight: γ₂.
        instance_weighting: ``"per_instance"`` -> mean_i λ_i [rep_i + att_i + γ₂ tkd_(i)];
            ``"batch_mean"`` -> mean(λ) · [mean rep + mean att + γ₂ mean tkd] (EasyNLP bug).

    Returns:
        scalar loss.
    """
    check_choice("instance_weighting", instance_weighting, ("per_instance", "batch_mean"))
    if rep.dim() != 1 or att.shape != rep.shape:
        raise HrkdError(f"rep and att must be (B,), got {tuple(rep.shape)} and {tuple(att.shape)}")
    tkd_t = torch.zeros((), dtype=rep.dtype, device=rep.device) if tkd is None else torch.as_tensor(tkd)
    lam = torch.ones_like(rep) if weights is None else weights.to(rep.dtype).detach()
    if instance_weighting == "per_instance":
        return (lam * (rep + att + tkd_weight * tkd_t)).mean()
    return lam.mean() * (rep.mean() + att.mean() + tkd_weight * tkd_t.mean())


def soft_cross_entropy_terms(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0,
                             reduction: str = "mean_classes") -> Tensor:
    """(B,) per-example soft CE for logits (B, C), no T² factor: the mean over classes
    (``"mean_classes"``, reference scale) or the sum over classes (``"batchmean"``)."""
    check_choice("pred_ce_reduction", reduction, ("mean_classes", "batchmean"))
    per_example = "none_mean_classes" if reduction == "mean_classes" else "none"
    return soft_cross_entropy(student_logits, teacher_logits.detach(), temperature, reduction=per_example)


def stage2_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float = 1.0,
                weights: Tensor | None = None, instance_weighting: str = "per_instance",
                reduction: str = "mean_classes") -> Tensor:
    """L_2 = mean_i [λ_i ·] soft-CE_i(z^T/T, z^S/T) (docs/methods/meta_kd.md §4); ``weights`` None = the code's
    unweighted form. ``reduction``: ``"mean_classes"`` (reference, ÷C) or ``"batchmean"`` (class sum)."""
    check_choice("instance_weighting", instance_weighting, ("per_instance", "batch_mean"))
    per = soft_cross_entropy_terms(student_logits, teacher_logits, temperature, reduction)
    if weights is None:
        return per.mean()
    lam = weights.to(per.dtype).detach()
    return (lam * per).mean() if instance_weighting == "per_instance" else lam.mean() * per.mean()


def joint_loss(rep: Tensor, att: Tensor, tkd: Tensor | float | None, student_logits: Tensor,
               teacher_logits: Tensor, weights: Tensor | None, tkd_weight: float = 0.5,
               temperature: float = 1.0, pred_lambda_weighting: bool = False,
               instance_weighting: str = "per_instance", reduction: str = "mean_classes") -> Tensor:
    """Paper form [M]: one weighted sum L_1 + L_2 (``schedule="joint"``), λ on L_2 only when asked."""
    l1 = stage1_loss(rep, att, tkd, weights, tkd_weight, instance_weighting)
    l2 = stage2_loss(student_logits, teacher_logits, temperature,
                     weights if pred_lambda_weighting else None, instance_weighting, reduction)
    return l1 + l2

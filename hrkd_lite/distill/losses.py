"""Distillation losses as pure functions on tensors (Hinton, TinyBERT, BERT-PKD, MiniLM, DistilBERT).

Method notes: ``docs/methods/background.md`` §3-§8 and ``docs/methods/hrkd.md`` §2.1. Shapes: ``B``
batch, ``C`` classes, ``T`` tokens, ``H`` hidden width, ``h``/``A`` heads, ``d`` head width, ``K`` distilled
layers.

Conventions shared by every function here:

- **Nothing is detached.** The functions differentiate through both arguments; callers run the teacher
  under ``torch.no_grad()`` (and ``eval()``), as all reference codes do. Passing a teacher tensor that
  requires grad lets gradients reach the teacher.
- ``reduction="none"`` returns one value per example, shape ``(B,)``, for per-instance weighting
  (Meta-KD's λ_i, ``docs/methods/meta_kd.md`` §4). Where every example contributes the same number of
  elements, ``"none"``'s mean equals ``"mean"`` (``hinton_kd`` with ignored rows is the exception;
  ``soft_cross_entropy`` has ``"none_mean_classes"`` for its reference scale).
- Attention scores are **pre-softmax** (QKᵀ/√d plus the additive mask ``(1 - mask) * -10000``), the
  encoder contract in ``docs/ARCHITECTURE.md``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.models.bert import MASK_VALUE, MASKED_THRESHOLD

__all__ = [
    "MASK_VALUE",
    "SOFT_CE_REDUCTIONS",
    "attention_score_mse",
    "distilbert_cosine_loss",
    "embedding_mse",
    "hidden_mse",
    "hinton_kd",
    "minilm_attention_kl",
    "minilm_value_relation_kl",
    "pkd_patience_loss",
    "soft_cross_entropy",
    "softmax_with_temperature",
    "value_relation",
    "zero_masked_scores",
]

_MEAN_NONE = ("mean", "none")
#: ``soft_cross_entropy`` reductions: scalar ÷C (reference), scalar class sum, (B,) class sum, (B,) ÷C.
SOFT_CE_REDUCTIONS = ("mean_classes", "batchmean", "none", "none_mean_classes")


def _check_same_shape(what: str, a: Tensor, b: Tensor) -> None:
    if a.shape != b.shape:
        raise HrkdError(f"{what}: student shape {tuple(a.shape)} != teacher shape {tuple(b.shape)}")


def _check_temperature(temperature: float) -> None:
    """One temperature for the whole batch: a finite Python/NumPy number > 0 (tensors are rejected)."""
    if isinstance(temperature, Tensor):
        raise HrkdError(
            "temperature must be a finite number > 0 (one float for the batch; per-example temperature "
            f"tensors are not supported), got a tensor of shape {tuple(temperature.shape)}"
        )
    is_number = isinstance(temperature, numbers.Real) and not isinstance(temperature, bool)
    if not (is_number and math.isfinite(temperature) and temperature > 0):
        raise HrkdError(f"temperature must be a finite number > 0, got {temperature!r}")


def softmax_with_temperature(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """p_i(z; T) = exp(z_i/T) / Σ_j exp(z_j/T) over the last dim (docs/methods/background.md §3).

    Args:
        logits: (..., C).
        temperature: T, a finite number > 0 (HrkdError otherwise); larger T gives softer distributions.

    Returns:
        (..., C) probabilities.
    """
    _check_temperature(temperature)
    return F.softmax(logits / temperature, dim=-1)


def hinton_kd(
    student_logits: Tensor,
    teacher_logits: Tensor,
    labels: Tensor | None = None,
    temperature: float = 1.0,
    alpha: float = 0.5,
    t2: bool = True,
    reduction: str = "mean",
    ignore_index: int = -100,
) -> Tensor:
    """Hinton KD (docs/methods/background.md §3; BERT-PKD's ``distillation_loss``):

    L = (1 − α)·CE(y, p(z_s; 1)) + α·T²·KL(p(z_t; T) ‖ p(z_s; T)),

    KL summed over classes and averaged over the batch ("batchmean").

    With ``labels=None`` there is no hard-label term and α is **not** applied: the result is
    T²·KL only (T² dropped when ``t2=False``), i.e. the pure distillation term.

    Ignored rows (our decision): a row whose label equals ``ignore_index`` (default −100, the usual
    PyTorch/Hugging Face value) is left out of **both** terms. ``"mean"`` then divides by the number of
    non-ignored rows N' (not by B): L = (1/N')·Σ_{i: y_i ≠ ignore} L_i, so ignored rows neither
    dilute the loss nor receive the KD term; if every row is ignored the result is 0. ``"none"``
    gives 0 for ignored rows. Without ignored rows this is the plain batch mean.

    Args:
        student_logits: (B, C).
        teacher_logits: (B, C), normally computed under ``no_grad``.
        labels: (B,) integer gold classes in [0, C) or ``ignore_index``; None = no hard-label term.
        temperature: T, a finite number > 0 (softens both distributions in the KL term only; CE uses T = 1).
        alpha: weight of the KD term in [0, 1].
        t2: multiply the KL by T² so the gradient scale does not shrink as 1/T² (§3).
        reduction: "mean" (mean over non-ignored rows) or "none" (per example, (B,)).
        ignore_index: label value that marks a row to skip (only used when ``labels`` is given).

    Returns:
        Scalar, or (B,) for ``reduction="none"``.
    """
    check_choice("reduction", reduction, _MEAN_NONE)
    _check_temperature(temperature)
    _check_same_shape("hinton_kd logits", student_logits, teacher_logits)
    if not 0.0 <= alpha <= 1.0:
        raise HrkdError(f"alpha must be in [0, 1], got {alpha!r}")
    log_ps = F.log_softmax(student_logits / temperature, dim=-1)
    log_pt = F.log_softmax(teacher_logits / temperature, dim=-1)
    kl = F.kl_div(log_ps, log_pt, reduction="none", log_target=True).sum(-1)  # (B,)
    if t2:
        kl = kl * temperature**2
    if labels is None:
        return kl if reduction == "none" else kl.mean()
    _check_labels(labels, student_logits, ignore_index)
    ce = F.cross_entropy(student_logits, labels, reduction="none", ignore_index=ignore_index)  # (B,)
    kept = labels != ignore_index  # (B,) True = the row counts
    # where(), not a product: a NaN/inf KL on an ignored row must not leak into the sum.
    per_example = torch.where(kept, (1.0 - alpha) * ce + alpha * kl, torch.zeros_like(kl))
    if reduction == "none":
        return per_example
    return per_example.sum() / kept.sum().clamp_min(1)


def _check_labels(labels: Tensor, logits: Tensor, ignore_index: int) -> None:
    """labels: (B,) integer tensor, each value in [0, C) or ``ignore_index``."""
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise HrkdError(f"labels must be an integer tensor of class indices, got dtype {labels.dtype}")
    if tuple(labels.shape) != tuple(logits.shape[:1]):
        raise HrkdError(f"labels shape {tuple(labels.shape)} != {tuple(logits.shape[:1])} (one label per row)")
    classes = logits.shape[-1]
    bad = labels[(labels != ignore_index) & ((labels < 0) | (labels >= classes))]
    if bad.numel():
        raise HrkdError(
            f"labels must be class indices in [0, {classes}) or ignore_index {ignore_index}; "
            f"got {int(bad[0])}"
        )


def soft_cross_entropy(
    student_logits: Tensor,
    teacher_logits: Tensor,
    temperature: float = 1.0,
    reduction: str = "mean_classes",
) -> Tensor:
    """Soft cross-entropy −softmax(z_t/t)·log_softmax(z_s/t), **no t² factor** (docs/methods/background.md §6, docs/methods/hrkd.md §2.1).

    Reductions (the ``soft_ce_reduction`` switch of HRKD, ``pred_ce_reduction`` of Meta-KD):

    - ``"mean_classes"`` (default): mean over batch **and** classes, i.e. batch-mean CE ÷ C. This is what
      the TinyBERT reference code computes (``task_distill.py``, ``soft_cross_entropy``: ``.mean()`` of
      the (B, C) products), and what both codes built on it compute: HRKD's prediction loss and Meta-KD's
      stage-2 loss (the authors' ``meta_distill.py`` / ``task_distill.py --pred_distill``).
    - ``"batchmean"``: sum over classes, mean over batch: the per-example cross-entropy of the equation
      above, averaged over the batch (C × the ``"mean_classes"`` value; our alternative, not a reference
      code's reduction).
    - ``"none"``: (B,) per-example CE summed over classes (its mean is ``"batchmean"``).
    - ``"none_mean_classes"``: (B,) per-example mean over classes (its mean is ``"mean_classes"``), for
      per-example weights (Meta-KD's λ_i) on the reference scale.

    Args:
        student_logits: (B, C).
        teacher_logits: (B, C).
        temperature: t, a finite number > 0 (HRKD and TinyBERT default 1).
        reduction: see above.

    Returns:
        Scalar, or (B,) for ``"none"``.
    """
    check_choice("soft_cross_entropy reduction", reduction, SOFT_CE_REDUCTIONS)
    _check_temperature(temperature)
    _check_same_shape("soft_cross_entropy logits", student_logits, teacher_logits)
    p_t = F.softmax(teacher_logits / temperature, dim=-1)
    log_ps = F.log_softmax(student_logits / temperature, dim=-1)
    elementwise = -p_t * log_ps  # (B, C)
    if reduction == "mean_classes":
        return elementwise.mean()
    if reduction == "none_mean_classes":
        return elementwise.mean(-1)
    per_example = elementwise.sum(-1)
    return per_example if reduction == "none" else per_example.mean()


def hidden_mse(
    student: Tensor,
    teacher: Tensor,
    proj: nn.Module | None = None,
    reduction: str = "mean",
) -> Tensor:
    """TinyBERT hidden / embedding loss MSE(H_S W_h, H_T) (docs/methods/background.md §6; docs/methods/hrkd.md §2.1).

    Args:
        student: (B, T, H_s) student hidden states (any shape (B, ...) works).
        teacher: (B, T, H_t) teacher hidden states.
        proj: module mapping H_s → H_t (e.g. ``FitDenses[m]``); None means identity (H_s must equal H_t).
        reduction: "mean" = ``nn.MSELoss()``: mean over **all** elements B×T×H_t, padding included (as
            HRKD); "none" = (B,) per-example mean over T×H_t (its mean equals "mean").

    Returns:
        Scalar, or (B,) for ``"none"``.
    """
    check_choice("reduction", reduction, _MEAN_NONE)
    projected = proj(student) if proj is not None else student
    _check_same_shape("hidden_mse (after projection)", projected, teacher)
    if reduction == "mean":
        return F.mse_loss(projected, teacher)
    return (projected - teacher).pow(2).flatten(1).mean(1)


#: TinyBERT's L_embd = MSE(E_S W_e, E_T) is the same computation as the hidden loss.
embedding_mse = hidden_mse


def zero_masked_scores(x: Tensor, threshold: float = MASKED_THRESHOLD) -> Tensor:
    """Z(x) = where(x ≤ threshold, 0, x): zero the additively masked scores (≈ −10000) (TinyBERT, docs/methods/hrkd.md §2.1)."""
    return torch.where(x <= threshold, torch.zeros_like(x), x)


def attention_score_mse(
    student_scores: Tensor,
    teacher_scores: Tensor,
    threshold: float = MASKED_THRESHOLD,
    reduction: str = "mean",
) -> Tensor:
    """TinyBERT attention loss on **pre-softmax** scores: MSE(Z(A_S), Z(A_T)) (docs/methods/background.md §6).

    The paper's L_attn = (1/h)·Σ_heads MSE(A_S^head, A_T^head) equals the mean over all B×h×T×T
    elements, which is what ``nn.MSELoss()`` computes in the TinyBERT/HRKD code. Masked entries
    (≤ ``threshold``) are set to 0 on both sides first, so the −10000 mask adds nothing.

    Args:
        student_scores: (B, h, T, T).
        teacher_scores: (B, h, T, T); the head counts must match.
        threshold: entries ≤ this are treated as masked.
        reduction: "mean" (all elements) or "none" ((B,) per-example mean over h×T×T).

    Returns:
        Scalar, or (B,) for ``"none"``.
    """
    check_choice("reduction", reduction, _MEAN_NONE)
    _check_same_shape("attention_score_mse scores", student_scores, teacher_scores)
    diff = zero_masked_scores(student_scores, threshold) - zero_masked_scores(teacher_scores, threshold)
    sq = diff.pow(2)
    return sq.mean() if reduction == "mean" else sq.flatten(1).mean(1)


def pkd_patience_loss(
    student_hidden_states: Sequence[Tensor],
    teacher_hidden_states: Sequence[Tensor],
    layer_map: Sequence[int],
    normalize_by_dim: bool = True,
    reduction: str = "mean",
) -> Tensor:
    """BERT-PKD patience loss on the L2-normalised [CLS] states of mapped layers (docs/methods/background.md §5).

    Paper: L_PT = Σ_j ‖ h_s^j/‖h_s^j‖₂ − h_t^{I(j)}/‖h_t^{I(j)}‖₂ ‖²₂, averaged over the batch, where
    h^j is the [CLS] state (token 0) of layer j and I = ``layer_map``.

    - ``normalize_by_dim=True`` (default, reference code ``patience_loss``: ``F.normalize`` then
      ``F.mse_loss``): mean over batch, layers **and** hidden units = paper value ÷ (K·H).
    - ``normalize_by_dim=False``: the paper equation, sum over H and over layers j, mean over batch.

    The function takes whole layer outputs and selects the [CLS] token itself, so full token states
    cannot be mistaken for [CLS] states.

    Args:
        student_hidden_states: list/tuple of M+1 tensors (B, T_s, H), index 0 = embeddings, index j =
            output of student layer j (an encoder output's ``hidden_states``).
        teacher_hidden_states: list/tuple of L+1 tensors (B, T_t, H), same layout; same width H (no
            projection in BERT-PKD).
        layer_map: K teacher layers I(1), ..., I(K) in [1, L] for student layers 1..K (K ≤ M), e.g.
            ``layer_maps.pkd_skip_map(L, M)`` or ``pkd_last_map(L, M)`` (K = M − 1).
        normalize_by_dim: see above.
        reduction: "mean" or "none" ((B,) per example).

    Returns:
        Scalar, or (B,) for ``"none"``.
    """
    check_choice("reduction", reduction, _MEAN_NONE)
    for who, states in (("student", student_hidden_states), ("teacher", teacher_hidden_states)):
        if not isinstance(states, (list, tuple)):
            shown = tuple(states.shape) if isinstance(states, Tensor) else type(states).__name__
            raise HrkdError(
                f"pkd_patience_loss: {who}_hidden_states must be a list/tuple of per-layer hidden states "
                f"(B, T, H), index 0 = embeddings; got {shown}"
            )
    layers = list(layer_map)
    if not layers:
        raise HrkdError("pkd_patience_loss: layer_map is empty; give one teacher layer per student layer 1..K")
    student_layers, teacher_layers = len(student_hidden_states) - 1, len(teacher_hidden_states) - 1
    if len(layers) > student_layers:
        raise HrkdError(
            f"pkd_patience_loss: layer_map has K={len(layers)} entries but the student has only "
            f"{student_layers} layers ({student_layers + 1} hidden states incl. embeddings)"
        )
    for i in layers:
        if isinstance(i, bool) or not isinstance(i, numbers.Integral) or not 1 <= i <= teacher_layers:
            raise HrkdError(f"pkd_patience_loss: teacher layer {i!r} out of range [1, {teacher_layers}] in layer_map")
    picked_s = [student_hidden_states[j] for j in range(1, len(layers) + 1)]
    picked_t = [teacher_hidden_states[int(i)] for i in layers]
    for x in picked_s + picked_t:
        if x.dim() != 3:
            raise HrkdError(f"pkd_patience_loss expects (B, T, H) layer outputs; got {tuple(x.shape)}")
    s = torch.stack([x[:, 0] for x in picked_s], dim=1)  # (B, K, H) student [CLS]
    t = torch.stack([x[:, 0] for x in picked_t], dim=1)  # (B, K, H) teacher [CLS]
    _check_same_shape("pkd_patience_loss [CLS] states (B, K, H)", s, t)
    sq = (F.normalize(s, p=2, dim=-1) - F.normalize(t, p=2, dim=-1)).pow(2)  # (B, K, H)
    per_example = sq.flatten(1).mean(1) if normalize_by_dim else sq.flatten(1).sum(1)
    return per_example if reduction == "none" else per_example.mean()


def _key_mask_fill(logits: Tensor, attention_mask: Tensor | None) -> Tensor:
    """Force masked keys (attention_mask == 0) to a very negative finite logit; (B, A, T, T)."""
    if attention_mask is None:
        return logits
    keys_masked = (attention_mask == 0)[:, None, None, :]  # (B, 1, 1, T)
    return logits.masked_fill(keys_masked, torch.finfo(logits.dtype).min)


def _relation_kl(
    student_logits: Tensor,
    teacher_logits: Tensor,
    attention_mask: Tensor | None,
    reduction: str,
    what: str,
) -> Tensor:
    """(1/(A·|x|))·Σ_a Σ_{t real} KL(softmax(teacher_t) ‖ softmax(student_t)), per example then reduced."""
    check_choice("reduction", reduction, _MEAN_NONE)
    if student_logits.dim() != 4:
        raise HrkdError(f"{what} expects (B, heads, T, T); got {tuple(student_logits.shape)}")
    if student_logits.shape[1] != teacher_logits.shape[1]:
        raise HrkdError(
            f"{what}: MiniLM needs the same number of heads; student has {student_logits.shape[1]}, "
            f"teacher {teacher_logits.shape[1]}"
        )
    _check_same_shape(what, student_logits, teacher_logits)
    bsz, heads, tokens, _ = student_logits.shape
    if attention_mask is not None and tuple(attention_mask.shape) != (bsz, tokens):
        raise HrkdError(f"{what}: attention_mask shape {tuple(attention_mask.shape)} != {(bsz, tokens)}")
    log_ps = F.log_softmax(_key_mask_fill(student_logits, attention_mask), dim=-1)
    log_pt = F.log_softmax(_key_mask_fill(teacher_logits, attention_mask), dim=-1)
    kl = F.kl_div(log_ps, log_pt, reduction="none", log_target=True).sum(-1)  # (B, A, T) per query
    if attention_mask is None:
        per_example = kl.mean(dim=(1, 2))
    else:
        real = attention_mask.to(kl.dtype)  # (B, T)
        n_real = real.sum(-1).clamp_min(1.0)
        per_example = (kl * real[:, None, :]).sum(dim=(1, 2)) / (heads * n_real)
    return per_example if reduction == "none" else per_example.mean()


def minilm_attention_kl(
    student_scores: Tensor,
    teacher_scores: Tensor,
    attention_mask: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """MiniLM self-attention distribution transfer (docs/methods/background.md §7):

    L_AT = (1/(A_h·|x|))·Σ_a Σ_t KL(A^T_{a,t} ‖ A^S_{a,t}),  A = softmax(scores) over keys,

    averaged over heads and **real** query positions of each example, then over the batch.

    Args:
        student_scores: (B, A, T, T) pre-softmax scores (already containing the additive mask).
        teacher_scores: (B, A, T, T); MiniLM needs the same head count A (HrkdError otherwise).
        attention_mask: (B, T), 1 = token, 0 = padding; None = all positions real. Masked keys are
            also forced to probability 0 here (idempotent with the encoder's additive mask).
        reduction: "mean" or "none" ((B,) per example).

    Returns:
        Scalar, or (B,) for ``"none"``.
    """
    return _relation_kl(student_scores, teacher_scores, attention_mask, reduction, "minilm_attention_kl")


def _value_relation_logits(values: Tensor, attention_mask: Tensor | None) -> Tensor:
    """V Vᵀ/√d + (1 − mask)·(−10000) on keys; (B, h, T, d) → (B, h, T, T)."""
    if values.dim() != 4:
        raise HrkdError(f"values must be (B, heads, T, d); got {tuple(values.shape)}")
    logits = values @ values.transpose(-1, -2) / math.sqrt(values.shape[-1])
    if attention_mask is not None:
        additive = (1.0 - attention_mask.to(logits.dtype)) * MASK_VALUE  # (B, T)
        logits = logits + additive[:, None, None, :]
    return logits


def value_relation(values: Tensor, attention_mask: Tensor | None = None) -> Tensor:
    """MiniLM value relation VR = softmax(V Vᵀ/√d + additive mask) (docs/methods/background.md §7).

    Args:
        values: (B, h, T, d) per-head value vectors.
        attention_mask: (B, T), 1 = token, 0 = padding (masked keys get ≈ 0 probability); None = no mask.

    Returns:
        (B, h, T, T); each row sums to 1.
    """
    return F.softmax(_value_relation_logits(values, attention_mask), dim=-1)


def minilm_value_relation_kl(
    student_values: Tensor,
    teacher_values: Tensor,
    attention_mask: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """MiniLM value-relation transfer L_VR = (1/(A_h·|x|))·Σ_a Σ_t KL(VR^T_{a,t} ‖ VR^S_{a,t}) (docs/methods/background.md §7).

    Relations are T×T, so the head widths d_s and d_t may differ; the head counts must match.

    Args:
        student_values: (B, A, T, d_s).
        teacher_values: (B, A, T, d_t).
        attention_mask: (B, T), 1 = token; None = all real.
        reduction: "mean" or "none" ((B,) per example).

    Returns:
        Scalar, or (B,) for ``"none"``.
    """
    return _relation_kl(
        _value_relation_logits(student_values, attention_mask),
        _value_relation_logits(teacher_values, attention_mask),
        attention_mask,
        reduction,
        "minilm_value_relation_kl",
    )


def distilbert_cosine_loss(
    student_hidden: Tensor,
    teacher_hidden: Tensor,
    attention_mask: Tensor | None = None,
    reduction: str = "mean",
) -> Tensor:
    """DistilBERT L_cos: ``CosineEmbeddingLoss(h_s, h_t, target=1)`` = 1 − cos(h_s, h_t) per real token (§4).

    Args:
        student_hidden: (B, T, H) last-layer hidden states.
        teacher_hidden: (B, T, H) (same width; DistilBERT has no projection).
        attention_mask: (B, T) exactly (HrkdError otherwise), 1 = token; padding is excluded. None = all
            tokens.
        reduction: "mean" = mean over all real tokens in the batch (DistilBERT); "none" = (B,) mean over
            each example's real tokens (its mean differs from "mean" when lengths differ).

    Returns:
        Scalar, or (B,) for ``"none"``.
    """
    check_choice("reduction", reduction, _MEAN_NONE)
    if student_hidden.dim() != 3:
        raise HrkdError(
            f"distilbert_cosine_loss expects (B, T, H) hidden states; got {tuple(student_hidden.shape)}"
        )
    _check_same_shape("distilbert_cosine_loss hidden states", student_hidden, teacher_hidden)
    bsz, tokens, _ = student_hidden.shape
    if attention_mask is not None and tuple(attention_mask.shape) != (bsz, tokens):
        raise HrkdError(
            f"distilbert_cosine_loss: attention_mask shape {tuple(attention_mask.shape)} != {(bsz, tokens)}"
        )
    loss = 1.0 - F.cosine_similarity(student_hidden, teacher_hidden, dim=-1)  # (B, T)
    real = torch.ones_like(loss) if attention_mask is None else attention_mask.to(loss.dtype)
    if reduction == "mean":
        return (loss * real).sum() / real.sum().clamp_min(1.0)
    return (loss * real).sum(-1) / real.sum(-1).clamp_min(1.0)

"""The library route to what distillation needs: pre-softmax attention scores from ``transformers.BertModel``.

Hugging Face's BERT returns post-softmax probabilities (``output_attentions``), but TinyBERT-style
losses compare the scores before the softmax. ``transformers`` lets a model call a registered
attention function instead of its own (``AttentionInterface``, the table ``ALL_ATTENTION_FUNCTIONS``):
we register :func:`scores_attention` under the name ``"hrkd_scores"`` together with a mask builder
(``AttentionMaskInterface``: the boolean padding mask of the SDPA path), switch a model to it with
``model.set_attn_implementation("hrkd_scores")``, and pass a list through the forward call's keyword
arguments; every layer appends its scores and value vectors to that list.

The scores are those of :class:`hrkd_lite.models.bert.BertSelfAttention`:

    A = Q Kᵀ / √d + (1 - m) · MASK_VALUE        (B, h, T, T), m = 1 for a token, 0 for padding

(tested with transformers 5.24) so :func:`hf_encoder_output` returns the same :class:`EncoderOutput` as our hand-written
:class:`BertEncoder` (a test checks equality to 1e-5). Our encoder stays the one the methods use: it
shows the mechanism in a few lines; this adaptor shows that the library gives the same numbers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.models.bert import MASK_VALUE, EncoderOutput

ATTENTION = "hrkd_scores"
SINK = "hrkd_score_sink"  # forward keyword argument that carries the list


def scores_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor]:
    """An attention function for ``AttentionInterface``: eager attention that also records its scores.

    Args:
        query, key, value: (B, h, T, d). attention_mask: None (attend everywhere) or boolean
            (B, 1, T, T), True = attend (the SDPA mask format registered with this function).
        kwargs: may hold ``hrkd_score_sink``, a list to which ``(scores (B, h, T, T), value)`` is appended.

    Returns ``(context (B, T, h, d), probabilities (B, h, T, T))`` as ``transformers`` expects.
    """
    scaling = query.size(-1) ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        keep = attention_mask if attention_mask.dtype == torch.bool else attention_mask > MASK_VALUE
        scores = scores + (~keep).to(scores.dtype) * MASK_VALUE
    sink = kwargs.get(SINK)
    if sink is not None:
        sink.append((scores, value))
    probs = nn.functional.dropout(scores.softmax(dim=-1), p=dropout, training=module.training)
    return torch.matmul(probs, value).transpose(1, 2).contiguous(), probs


def register() -> str:
    """Register :func:`scores_attention` (and the boolean padding mask) under ``"hrkd_scores"``; idempotent."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError as exc:
        import transformers

        raise HrkdError(f"the attention-function route needs a newer transformers than "
                        f"{transformers.__version__} (AttentionInterface / AttentionMaskInterface); "
                        "pip install -U transformers") from exc

    AttentionInterface.register(ATTENTION, scores_attention)
    AttentionMaskInterface.register(ATTENTION, sdpa_mask)
    return ATTENTION


def hf_encoder_output(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                      token_type_ids: torch.Tensor | None = None) -> EncoderOutput:
    """Run a ``transformers.BertModel`` and return our :class:`EncoderOutput` (hidden states, pre-softmax
    scores, values), read through the registered attention function.

    The model is switched to ``"hrkd_scores"`` for the call and back to its previous implementation.
    """
    register()
    if not hasattr(model, "set_attn_implementation"):
        raise HrkdError("this transformers version cannot switch attention functions on a loaded model; "
                        "pip install -U transformers")
    previous = model.config._attn_implementation
    model.set_attn_implementation(ATTENTION)
    sink: list[tuple[torch.Tensor, torch.Tensor]] = []
    try:
        out = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                    output_hidden_states=True, **{SINK: sink})
    finally:
        model.set_attn_implementation(previous)
    return EncoderOutput(list(out.hidden_states), [s for s, _ in sink], [v for _, v in sink])


@torch.no_grad()
def library_route_gap(encoder: nn.Module, hf_model: nn.Module, input_ids: torch.Tensor,
                      attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> dict[str, float]:
    """Largest absolute differences between our encoder and the library route on one batch (eval mode):
    ``hidden`` (every layer, real tokens), ``scores`` (every layer, real query and key), ``layers``."""
    ours = encoder.eval()(input_ids, attention_mask, token_type_ids)
    lib = hf_encoder_output(hf_model.eval(), input_ids, attention_mask, token_type_ids)
    real = attention_mask.bool()
    pairs = real[:, None, :, None] & real[:, None, None, :]  # (B, 1, T, T)
    hidden = max(float((a - b)[real].abs().max()) for a, b in zip(ours.hidden_states, lib.hidden_states))
    scores = max(float((a - b).masked_select(pairs).abs().max())
                 for a, b in zip(ours.attention_scores, lib.attention_scores))
    return {"hidden": hidden, "scores": scores, "layers": float(len(lib.attention_scores))}

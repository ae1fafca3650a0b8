"""Distillation building blocks: losses (Hinton, TinyBERT, BERT-PKD, MiniLM, DistilBERT), layer maps,
per-layer projections and the TinyBERT per-layer terms reused by Meta-KD and HRKD."""

from hrkd_lite.distill.layer_maps import (
    adabert_map,
    describe_maps,
    indices_from_map,
    minilm_map,
    pkd_last_map,
    pkd_skip_map,
    tinybert_indices,
    uniform_map,
)
from hrkd_lite.distill.losses import (
    MASK_VALUE,
    attention_score_mse,
    distilbert_cosine_loss,
    embedding_mse,
    hidden_mse,
    hinton_kd,
    minilm_attention_kl,
    minilm_value_relation_kl,
    pkd_patience_loss,
    soft_cross_entropy,
    softmax_with_temperature,
    value_relation,
    zero_masked_scores,
)
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.tinybert import tinybert_layer_losses, tinybert_total

__all__ = [
    "FitDenses",
    "MASK_VALUE",
    "adabert_map",
    "attention_score_mse",
    "describe_maps",
    "distilbert_cosine_loss",
    "embedding_mse",
    "hidden_mse",
    "hinton_kd",
    "indices_from_map",
    "minilm_attention_kl",
    "minilm_map",
    "minilm_value_relation_kl",
    "pkd_last_map",
    "pkd_patience_loss",
    "pkd_skip_map",
    "soft_cross_entropy",
    "softmax_with_temperature",
    "tinybert_indices",
    "tinybert_layer_losses",
    "tinybert_total",
    "uniform_map",
    "value_relation",
    "zero_masked_scores",
]

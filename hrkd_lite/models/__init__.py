"""Models: a BERT encoder exposing pre-softmax attention scores, multi-domain heads, builders, measures."""

from hrkd_lite.models.bert import PRESETS, BertConfig, BertEncoder, EncoderOutput
from hrkd_lite.models.classifier import ModelOutput, MultiDomainClassifier
from hrkd_lite.models.factory import (
    build_student,
    build_teacher,
    load_encoder,
    load_tokenizer,
    minilm_dir,
    truncate_encoder,
)
from hrkd_lite.models.measure import (
    config_parameter_counts,
    count_parameters,
    latency_table,
    measure_latency,
    model_latency,
    round_robin_latency,
)

__all__ = [
    "PRESETS", "BertConfig", "BertEncoder", "EncoderOutput", "ModelOutput", "MultiDomainClassifier",
    "build_student", "build_teacher", "load_encoder", "load_tokenizer", "minilm_dir", "truncate_encoder",
    "config_parameter_counts", "count_parameters", "latency_table", "measure_latency", "model_latency",
    "round_robin_latency",
]

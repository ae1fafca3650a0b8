"""Generic training on Hugging Face accelerate: the loop (``loop``: per-domain best-dev selection, resume,
mixed precision), its settings (``config``), data parallelism (``distributed``), AdamW + warmup/decay
(``optim``), atomic safetensors checkpoints (``checkpoint``) and their tagged-JSON metadata (``tagged_json``)."""

from hrkd_lite.train.checkpoint import load_checkpoint, load_weights, save_checkpoint, save_weights
from hrkd_lite.train.loop import Batches, EvalFn, LossFn, StepCallback, TrainConfig, Trainer, TrainResult
from hrkd_lite.train.optim import build_optimizer, linear_warmup_decay, param_groups, warmup_decay_factor

__all__ = [
    "Batches",
    "EvalFn",
    "LossFn",
    "StepCallback",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "build_optimizer",
    "linear_warmup_decay",
    "load_checkpoint",
    "load_weights",
    "param_groups",
    "save_checkpoint",
    "save_weights",
    "warmup_decay_factor",
]

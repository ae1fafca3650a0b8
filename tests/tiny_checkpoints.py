"""Tiny randomly initialised BERT checkpoints in the Hugging Face folder format, written by transformers
itself (``config.json``, ``model.safetensors``) plus the offline teacher's tokenizer files, so a "hub" teacher
and a student of another width run the gpu profile's code path on a CPU in seconds."""

from __future__ import annotations

import shutil
from pathlib import Path

TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
TEACHER_SHAPE = {"hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 128}
STUDENT_SHAPE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}  # heads = teacher's (TinyBERT attention MSE)


def write_tiny_bert(folder: Path, seed: int, **shape: int) -> Path:
    """A random ``BertModel`` saved with ``save_pretrained`` (safetensors) and the MiniLM tokenizer files."""
    import torch
    from transformers import BertConfig, BertModel

    from hrkd_lite.models.factory import minilm_dir

    src = minilm_dir()
    vocab = sum(1 for _ in (src / "vocab.txt").open(encoding="utf-8"))
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=vocab, max_position_embeddings=128, **shape)
    BertModel(cfg).save_pretrained(str(folder), safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy(src / name, folder / name)
    return folder


def write_tiny_pair(root: Path) -> tuple[Path, Path]:
    """``(teacher, student)`` folders: hidden 64 x 4 layers and hidden 32 x 2 layers."""
    return (write_tiny_bert(root / "tiny-teacher", 0, **TEACHER_SHAPE),
            write_tiny_bert(root / "tiny-student", 1, **STUDENT_SHAPE))

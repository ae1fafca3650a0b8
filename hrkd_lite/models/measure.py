"""Where the parameters live, and how fast a model runs — both measured, never quoted.

Parameter arithmetic (``docs/methods/background.md`` §2): embeddings V·H + P·H + S·H + 2H (LayerNorm);
per layer 4(H²+H) attention + 2H (attention LN) + 2·H·F + F + H FFN + 2H (output LN); pooler H²+H.
"""

from __future__ import annotations

import statistics
import threading
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.utils import benchmark

from hrkd_lite.models.bert import BertConfig

COMPONENTS = ("embeddings", "attention", "ffn", "pooler", "heads", "other")


def _component(name: str) -> str:
    if "embeddings" in name:
        return "embeddings"
    if ".attention." in name:
        return "attention"
    if ".intermediate." in name or ".output." in name:
        return "ffn"
    if name.startswith("pooler") or ".pooler." in name:
        return "pooler"
    if name.startswith("heads") or ".heads." in name:
        return "heads"
    return "other"


def count_parameters(model: nn.Module, trainable_only: bool = False) -> dict[str, int]:
    """Parameters of ``model`` by component (embeddings / attention / ffn / pooler / heads / other) and total.

    Attention includes its output projection and LayerNorm; FFN the two dense layers and their LayerNorm.
    """
    counts = dict.fromkeys(COMPONENTS, 0)
    seen: set[int] = set()
    for name, p in model.named_parameters():
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        counts[_component(name)] += p.numel()
    counts["total"] = sum(counts[c] for c in COMPONENTS)
    return counts


def config_parameter_counts(cfg: BertConfig, pooler: bool | None = None) -> dict[str, int]:
    """The same breakdown computed from a config alone (no weights), by the formula in the docstring."""
    H, F, L = cfg.hidden_size, cfg.intermediate_size, cfg.num_layers
    emb = (cfg.vocab_size + cfg.max_position_embeddings + cfg.type_vocab_size) * H + 2 * H
    attn = 4 * (H * H + H) + 2 * H
    ffn = 2 * H * F + F + H + 2 * H
    use_pooler = cfg.has_pooler if pooler is None else pooler
    out = {"embeddings": emb, "attention": L * attn, "ffn": L * ffn,
           "pooler": (H * H + H) if use_pooler else 0, "heads": 0, "other": 0}
    out["total"] = sum(out.values())
    return out


_LATENCY = threading.local()


def measuring_latency() -> bool:
    """True while :func:`round_robin_latency` runs in this thread (cost counters leave these forwards out)."""
    return getattr(_LATENCY, "depth", 0) > 0


def round_robin_latency(fns: dict[str, Callable[[], object]], repeats: int = 20, warmup: int = 1,
                        no_grad: bool = True) -> dict[str, dict[str, Any]]:
    """THE latency helper: wall time of each ``fn()`` in milliseconds, one ``torch.utils.benchmark.Timer``
    per function (CUDA-synchronised, thread count pinned), sampled round by round (every function once
    per round) so load changes on a shared machine hit all of them alike.

    Each sample is ``Timer.timeit(1)``, which runs the function twice untimed right before the timed
    call; ``no_grad=False`` times functions that need autograd (a training step).
    Returns ``{name: {"median_ms", "min_ms", "p10_ms", "p90_ms", "all_ms", "repeats"}}``.
    """
    _LATENCY.depth = getattr(_LATENCY, "depth", 0) + 1
    try:
        return _round_robin(fns, repeats, warmup, no_grad)
    finally:
        _LATENCY.depth -= 1


def _round_robin(fns: dict[str, Callable[[], object]], repeats: int, warmup: int,
                 no_grad: bool) -> dict[str, dict[str, Any]]:
    threads = torch.get_num_threads()
    timers = {k: benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads) for k, fn in fns.items()}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    with torch.set_grad_enabled(not no_grad):
        for _ in range(max(1, int(repeats))):
            for k, timer in timers.items():
                times[k].append(1000 * timer.timeit(1).raw_times[0])
    out = {}
    for k, v in times.items():
        q = sorted(v)
        out[k] = {"median_ms": statistics.median(v), "min_ms": q[0], "p10_ms": q[len(q) // 10],
                  "p90_ms": q[(9 * len(q)) // 10], "all_ms": v, "repeats": len(v)}
    return out


def measure_latency(fn: Callable[[], object], repeats: int = 20, warmup: int = 3,
                    device: torch.device | str = "cpu") -> dict[str, float]:
    """Median and spread of the wall time of ``fn()`` in ms (:func:`round_robin_latency` of one function).

    ``device`` is accepted for compatibility; the Timer synchronises CUDA by itself.
    """
    res = round_robin_latency({"fn": fn}, repeats, warmup)["fn"]
    return {k: res[k] for k in ("median_ms", "p10_ms", "p90_ms", "repeats")}


def model_latency(model: nn.Module, batch_size: int, seq_len: int, repeats: int = 20,
                  device: torch.device | str = "cpu", seed: int = 0) -> dict[str, float]:
    """Median forward latency (ms) of a classifier/encoder on random token ids, in eval mode, no grad."""
    dev = torch.device(device)
    g = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch_size, seq_len), generator=g).to(dev)
    mask = torch.ones_like(ids)
    was_training = model.training
    model.eval().to(dev)
    try:
        return measure_latency(lambda: model(ids, mask), repeats=repeats, device=dev)
    finally:
        model.train(was_training)


def latency_table(model: nn.Module, seq_len: int, repeats: int, device: torch.device | str = "cpu",
                  batch_sizes: tuple[int, ...] = (1, 32)) -> dict[str, float]:
    """``{"batch1": ms, "batch32": ms, "seq_len": T, "device": ...}``: medians at each batch size."""
    out: dict[str, float] = {"seq_len": seq_len, "device": str(device)}
    for b in batch_sizes:
        out[f"batch{b}"] = model_latency(model, b, seq_len, repeats, device)["median_ms"]
    return out

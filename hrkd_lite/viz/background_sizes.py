"""Notebook 00 views, sizes and speed: where BERT's parameters live and what compression buys in latency.

Parameter counts per component come from configs only (``config_parameter_counts`` over ``PRESETS`` and
the profile's student); quoted sizes and speed-ups sit next to the same quantity computed or measured here.
Latency is always measured on this device (interleaved medians), never quoted.
Method note: ``docs/methods/background.md`` §2 (size arithmetic, "measure, never quote"), §4.
Numbers quoted from papers carry their tag ([A] abstract, [R] README, [M] unverified memory, [D] derived).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hrkd_lite.distill import uniform_map
from hrkd_lite.models import PRESETS, BertConfig, BertEncoder, config_parameter_counts, truncate_encoder
from hrkd_lite.models.measure import measure_latency
from hrkd_lite.profiles import Profile
from hrkd_lite.viz.common import new_figure

# ---------------------------------------------------------------------------------------------------
# 1. Where the parameters live (docs/methods/background.md §2)

COMPONENTS = ("embeddings", "attention", "ffn", "pooler")
COLORS = {"embeddings": "#4c72b0", "attention": "#dd8452", "ffn": "#55a868", "pooler": "#8172b3"}
ADABERT_SMALLER = (11.5, 17.0)  # "11.5x to 17.0x smaller" than BERT-base [A] (docs/methods/adabert.md §1)

# (what, quoted text, quoted value, tag, preset, kind) — docs/methods/background.md §2 / §4; compared with PRESETS arithmetic
PAPER_SIZES = [
    ("BERT-base parameters", "109M", 109e6, "[A] AdaBERT intro; [R] MiniLM README", "bert-base", "count"),
    ("DistilBERT parameters", "66M", 66e6, "[R] DistilBERT README", "distilbert", "count"),
    ("TinyBERT-4 parameters", "14.5M", 14.5e6, "[M] unverified", "tinybert-4l", "count"),
    ("MiniLM L6xH384 parameters", "22M", 22e6, "[R] MiniLM README", "minilm-l6", "count"),
    ("TinyBERT-4: times smaller than BERT-base", "7.5x", 7.5, "[R] TinyBERT README", "tinybert-4l", "ratio"),
    ("DistilBERT: fewer parameters than BERT-base", "40%", 0.40, "[R] DistilBERT README", "distilbert", "fewer"),
]
# (model, quoted speed-up over BERT-base, tag) — quoted only next to a speed-up measured here
PAPER_SPEEDUPS = [
    ("distilbert", "60% faster (= 1.6x [D])", "[R] DistilBERT README"),
    ("minilm-l6", "5.3x", "[R] MiniLM README (L6xH384)"),
    ("tinybert-4l", "9.4x", "[R] TinyBERT README"),
]


def student_config(profile: Profile) -> BertConfig:
    """The config of the profile's student: the teacher truncated to ``student_layers``, or a hub student."""
    from hrkd_lite.models.factory import load_pretrained

    if profile.student == "layers":
        cfg = copy.deepcopy(load_pretrained(profile.teacher)[0])
        cfg.num_layers = len(profile.student_layers)
        return cfg
    return copy.deepcopy(load_pretrained(profile.student)[0])


def model_configs(profile: Profile) -> dict[str, BertConfig]:
    """Published configs (``PRESETS``) plus this profile's student, by display name."""
    s = (f"layers {{{','.join(map(str, profile.student_layers))}}} of {profile.teacher}"
         if profile.student == "layers" else profile.student.split("/")[-1])
    return {"BERT-base": PRESETS["bert-base"], "DistilBERT": PRESETS["distilbert"],
            "MiniLM-L6-H384": PRESETS["minilm-l6"], "TinyBERT-4 (H312)": PRESETS["tinybert-4l"],
            f"our student: {s}": student_config(profile)}


def param_breakdown(configs: dict[str, BertConfig]) -> dict[str, dict[str, int]]:
    """``{name: {embeddings, attention, ffn, pooler, total, embedding_share, layers}}`` from configs only."""
    out = {}
    for name, cfg in configs.items():
        c = config_parameter_counts(cfg)
        out[name] = {**{k: c[k] for k in COMPONENTS}, "total": c["total"], "layers": cfg.num_layers,
                     "embedding_share": c["embeddings"] / c["total"]}
    return out


def adabert_range(bert_base_total: int) -> tuple[float, float]:
    """AdaBERT's size range [D]: BERT-base / 17.0 to BERT-base / 11.5 (factors [A])."""
    return bert_base_total / ADABERT_SMALLER[1], bert_base_total / ADABERT_SMALLER[0]


def plot_param_breakdown(breakdown: dict[str, dict[str, Any]], title: str = ""):
    """Stacked horizontal bars (millions) per component, embedding share annotated; AdaBERT as a range."""
    names = list(breakdown)
    fig, ax = new_figure(figsize=(9.5, 0.55 * len(names) + 2.0))
    for yi, name in enumerate(names):
        left = 0.0
        for comp in COMPONENTS:
            v = breakdown[name][comp] / 1e6
            ax.barh(yi, v, left=left, color=COLORS[comp], label=comp if yi == 0 else None)
            left += v
        ax.text(left + 0.8, yi, f"{left:.2f}M, {100 * breakdown[name]['embedding_share']:.0f}% embeddings",
                va="center", fontsize=8)
    labels = list(names)
    if "BERT-base" in breakdown:
        lo, hi = adabert_range(breakdown["BERT-base"]["total"])
        ax.barh(len(names), (hi - lo) / 1e6, left=lo / 1e6, color="none", edgecolor="gray", hatch="//")
        ax.text(hi / 1e6 + 0.8, len(names), f"{lo / 1e6:.1f}-{hi / 1e6:.1f}M [D] from '11.5x-17.0x smaller' [A]",
                va="center", fontsize=8)
        labels.append("AdaBERT (range)")
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("parameters (millions), computed from each config")
    ax.set_xlim(0, max(b["total"] for b in breakdown.values()) / 1e6 * 1.5)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title or "Where BERT's parameters live")
    return fig


def paper_size_check() -> list[dict[str, Any]]:
    """Quoted sizes (with tags) next to the same quantity computed from ``PRESETS``; ``rel_err`` = |ours/quoted − 1|."""
    counts = {k: config_parameter_counts(v)["total"] for k, v in PRESETS.items()}
    base = counts["bert-base"]
    rows = []
    for what, text, quoted, tag, key, kind in PAPER_SIZES:
        ours = {"count": counts[key], "ratio": base / counts[key], "fewer": 1 - counts[key] / base}[kind]
        shown = {"count": f"{ours / 1e6:.2f}M", "ratio": f"{ours:.2f}x", "fewer": f"{100 * ours:.1f}%"}[kind]
        rows.append({"what": what, "quoted": text, "tag": tag, "ours": shown, "rel_err": abs(ours / quoted - 1)})
    return rows


def preset_speedups(batch_size: int, seq_len: int, rounds: int, device: torch.device | str = "cpu",
                    seed: int = 0) -> list[dict[str, Any]]:
    """Measured speed-up over BERT-base of each model in ``PAPER_SPEEDUPS`` (random weights: latency does not
    depend on the values), next to the quoted claim. Interleaved medians, this device."""
    with torch.random.fork_rng(devices=[]):  # seeded init without reseeding the caller's stream
        torch.manual_seed(seed)
        models = {k: BertEncoder(PRESETS[k]) for k in ["bert-base", *[m for m, _, _ in PAPER_SPEEDUPS]]}
    res = interleaved_latency(models, batch_size, seq_len, rounds, device)
    base = res["bert-base"]["median_ms"]
    return [{"model": k, "ms": res[k]["median_ms"], "bert_base_ms": base, "measured": base / res[k]["median_ms"],
             "quoted": q, "tag": tag} for k, q, tag in PAPER_SPEEDUPS]


# ---------------------------------------------------------------------------------------------------
# 2. Latency, measured here (docs/methods/background.md §2 "measure, never quote")

def _forward_fn(model: torch.nn.Module, batch_size: int, seq_len: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    vocab = model.config.vocab_size
    ids = torch.randint(min(1000, vocab // 2), vocab, (batch_size, seq_len), generator=g).to(device)
    mask = torch.ones_like(ids)
    model.eval().to(device)

    @torch.no_grad()
    def run():
        return model(ids, mask)

    return run


def interleaved_latency(models: dict[str, torch.nn.Module], batch_size: int, seq_len: int, rounds: int,
                        device: torch.device | str = "cpu", warmup: int = 2) -> dict[str, dict[str, Any]]:
    """Median forward time (ms) of each model, measured in alternating rounds (robust to load drift)."""
    dev = torch.device(device)
    fns = {k: _forward_fn(m, batch_size, seq_len, dev) for k, m in models.items()}
    for fn in fns.values():
        measure_latency(fn, repeats=1, warmup=warmup, device=dev)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            times[k].append(measure_latency(fn, repeats=1, warmup=0, device=dev)["median_ms"])
    return {k: {"median_ms": float(np.median(v)), "all_ms": v, "batch_size": batch_size, "seq_len": seq_len}
            for k, v in times.items()}


def latency_vs_seq(models: dict[str, torch.nn.Module], seq_lens: Sequence[int], batch_size: int, rounds: int,
                   device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """``{"seq_len": [...], name: [median ms per seq_len]}``."""
    out: dict[str, list[float]] = {"seq_len": list(seq_lens), **{k: [] for k in models}}
    for t in seq_lens:
        res = interleaved_latency(models, batch_size, t, rounds, device)
        for k in models:
            out[k].append(res[k]["median_ms"])
    return out


def latency_vs_depth(teacher: BertEncoder, depths: Sequence[int], seq_len: int, batch_size: int, rounds: int,
                     device: torch.device | str = "cpu") -> dict[str, list[float]]:
    """Median ms of the teacher truncated to k layers (uniform map, ``uniform_map(L, k)[1:]``) for each k."""
    L = teacher.config.num_layers
    models = {k: truncate_encoder(teacher, uniform_map(L, k)[1:]) for k in depths}
    res = interleaved_latency(models, batch_size, seq_len, rounds, device)
    return {"depth": list(depths), "ms": [res[k]["median_ms"] for k in depths], "seq_len": seq_len,
            "batch_size": batch_size}


def plot_latency(seq_res: dict[str, list[float]], depth_res: dict[str, Any], device: str, batch_size: int):
    """Left: ms vs sequence length per model; middle: the speed-up teacher / student at each length;
    right: ms vs depth (teacher truncated) with the speed-up over the full depth on a second axis."""
    fig, (a, s, b) = new_figure(1, 3, figsize=(15, 4))
    for k, v in seq_res.items():
        if k != "seq_len":
            a.plot(seq_res["seq_len"], v, "o-", label=k)
    for ax in (a, s):
        ax.set_xscale("log", base=2)
        ax.set_xticks(seq_res["seq_len"], [str(t) for t in seq_res["seq_len"]])
        ax.set_xlabel("sequence length (tokens)")
    a.set_ylabel(f"median ms per batch of {batch_size}")
    a.set_title(f"latency vs sequence length (measured here, {device})")
    a.legend(fontsize=8)
    if "teacher" in seq_res and "student" in seq_res:
        ratio = np.asarray(seq_res["teacher"], float) / np.asarray(seq_res["student"], float)
        s.plot(seq_res["seq_len"], ratio, "o-", color="C2")
        s.axhline(1.0, color="grey", ls=":", lw=1, label="no speed-up")
        s.legend(fontsize=8)
    s.set_ylabel("speed-up (teacher ms / student ms, ×)")
    s.set_ylim(bottom=0)
    s.set_title("speed-up of the student")
    b.plot(depth_res["depth"], depth_res["ms"], "s-", color="gray")
    b.set_xlabel("layers kept")
    b.set_ylabel(f"median ms (batch {depth_res['batch_size']}, seq {depth_res['seq_len']})")
    b.set_title("latency vs depth (teacher truncated)")
    b.set_ylim(bottom=0)
    full = float(depth_res["ms"][-1])
    b2 = b.twinx()
    b2.plot(depth_res["depth"], [full / m for m in depth_res["ms"]], "^:", color="C2")
    b2.set_ylabel("speed-up over all layers (×)", color="C2")
    b2.set_ylim(bottom=0)
    return fig

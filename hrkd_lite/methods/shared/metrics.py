"""``metrics.json`` (one schema for every method, so one script compares them), and the comparison table::

    {"method", "profile", "data", "seed", "domains",
     "accuracy": {"dev": {<domain>: x, ..., "average": y}, "test": {...}},   # accuracies in 0..1
     "params": {...component counts...}, "latency_ms": {"batch1": ms, "batch32": ms, ...}, ...}
"""

from __future__ import annotations

import json
from pathlib import Path

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.shared.context import RunContext
from hrkd_lite.methods.shared.evaluation import with_average
from hrkd_lite.models import MultiDomainClassifier, count_parameters, latency_table
from hrkd_lite.train.distributed import is_main_process
from hrkd_lite.utils import atomic_write_json


def measure_model(ctx: RunContext, model: MultiDomainClassifier) -> tuple[dict, dict]:
    """Parameter counts by component and measured latency (median, batch 1 and 32) on ctx.device."""
    return count_parameters(model), latency_table(model, ctx.profile.max_len, ctx.profile.latency_repeats,
                                                  ctx.device)


def write_metrics(ctx: RunContext, method: str, dev: dict[str, float], test: dict[str, float],
                  model: MultiDomainClassifier | None, extra: dict | None = None) -> dict:
    # launched on several processes: the first one times the model (alone) and writes the file
    main = is_main_process()
    params, latency = measure_model(ctx, model) if model is not None and main else ({}, {})
    metrics = {"method": method, "profile": ctx.profile.name, "data": ctx.data.source, "seed": ctx.seed,
               "domains": ctx.domains, "accuracy": {"dev": with_average(dev), "test": with_average(test)},
               "params": params, "latency_ms": latency, **(extra or {})}
    if main:
        atomic_write_json(ctx.out_dir / "metrics.json", metrics)
    return metrics


def read_metrics(path: Path) -> dict:
    path = path / "metrics.json" if path.is_dir() else path
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HrkdError(f"cannot read metrics file {path}: {exc}") from None


def format_metrics(m: dict) -> str:
    return compare_table([m], split="test")


def compare_table(runs: list[dict], split: str = "test") -> str:
    """Per-domain accuracy (%) of several runs, with parameters and batch-1 latency."""
    domains = list(dict.fromkeys(d for r in runs for d in r["accuracy"][split] if d != "average"))
    head = f"{'method':<22}" + "".join(f"{d[:11]:>12}" for d in domains) + f"{'average':>10}{'params':>10}{'ms@1':>8}"
    lines = [f"{split} accuracy (%)", head]
    for r in runs:
        acc = r["accuracy"][split]
        cells = "".join(f"{100 * acc[d]:>12.1f}" if d in acc else f"{'-':>12}" for d in domains)
        params = r.get("params", {}).get("total")
        lat = r.get("latency_ms", {}).get("batch1")
        lines.append(f"{r['method']:<22}{cells}{100 * acc['average']:>10.1f}"
                     f"{(f'{params / 1e6:.1f}M' if params else '-'):>10}{(f'{lat:.1f}' if lat else '-'):>8}")
    return "\n".join(lines)

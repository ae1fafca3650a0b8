"""The runs behind notebook 04: stage-A teacher, HRKD variants, baselines, seeds, few-shot curve.

Every run writes its own folder (``metrics.json``, ``recorded.npz`` for HRKD) under ``runs_dir``; with
``reuse=True`` a folder that already holds ``metrics.json`` is read back instead of retrained (the
notebook re-runs in seconds on a laptop). Nothing here invents a number: tables and curves are built
from the metrics files the runs wrote.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from hrkd_lite.data import MultiDomainData
from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.methods.baselines.runner import run_student, run_teacher, run_tinybert
from hrkd_lite.methods.hrkd.config import HRKDConfig
from hrkd_lite.methods.hrkd.graph import MetaGraph
from hrkd_lite.methods.hrkd.recorder import Recording
from hrkd_lite.methods.hrkd.runner import remove_checkpoints, run_hrkd
from hrkd_lite.methods.hrkd.step import build_hrkd_student
from hrkd_lite.methods.shared.context import RunContext, prepare
from hrkd_lite.methods.shared.metrics import read_metrics
from hrkd_lite.methods.shared.teachers import run_multi_teacher
from hrkd_lite.noise import Comparison, compare
from hrkd_lite.profiles import Profile

#: Baselines of the results table: no-KD student (shared, per-domain heads) and single-domain TinyBERT-KD,
#: from the stage-A multi-task teacher (``tinybert``) or from single-domain teachers (``tinybert_single_teacher``,
#: the reference baseline). Each takes (ctx, {"multitask": folder, "single": folder or None}).
BASELINES: dict[str, Callable[..., dict]] = {
    "student": lambda ctx, tdirs: run_student(ctx, setting="multi"),
    "tinybert": lambda ctx, tdirs: run_tinybert(ctx, setting="single", teacher_dir=tdirs["multitask"]),
    "tinybert_single_teacher": lambda ctx, tdirs: run_tinybert(ctx, setting="single", teacher_variant="single",
                                                               teacher_dir=tdirs.get("single")),
}


def sub_context(ctx: RunContext, out_dir: str | Path, seed: int | None = None) -> RunContext:
    """A copy of ``ctx`` writing to ``out_dir`` (created) with another seed; data and tokens are shared."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(ctx, out_dir=out, seed=ctx.seed if seed is None else seed)


def cached(out_dir: Path, fn: Callable[[], dict], reuse: bool = True) -> dict:
    """``read_metrics(out_dir)`` when it exists and ``reuse``, else ``fn()`` (which writes it)."""
    if reuse and (Path(out_dir) / "metrics.json").is_file():
        return read_metrics(Path(out_dir))
    return fn()


def train_multi_teacher(ctx: RunContext, runs_dir: Path, reuse: bool = True) -> tuple[dict, Path]:
    """Stage A into ``runs_dir/teacher``; returns (metrics, teacher folder for ``teacher_dir``)."""
    tctx = sub_context(ctx, Path(runs_dir) / "teacher")
    metrics = cached(tctx.out_dir, lambda: run_multi_teacher(tctx), reuse)
    return metrics, tctx.out_dir / "teacher"


def train_single_teachers(ctx: RunContext, runs_dir: Path, reuse: bool = True) -> tuple[dict, Path]:
    """One single-domain teacher per domain (BERT_B-single; lr 2e-5 on the reference profiles) into
    ``runs_dir/single_teacher``; returns (metrics, teacher folder for ``single_teacher_dir``)."""
    tctx = sub_context(ctx, Path(runs_dir) / "single_teacher")
    metrics = cached(tctx.out_dir, lambda: run_teacher(tctx, mode="single"), reuse)
    return metrics, tctx.out_dir / "teacher"


def run_comparison(ctx: RunContext, teacher_dir: Path, runs_dir: Path, *, variants: Sequence[str] = ("hrkd",),
                   baselines: Sequence[str] = ("student", "tinybert"), seeds: Sequence[int] = (0,),
                   reuse: bool = True, keep_checkpoints: bool = False,
                   single_teacher_dir: Path | None = None) -> dict[str, list[dict]]:
    """Every variant (an HRKD preset) and baseline for every seed: ``{name: [metrics per seed]}``.

    Folders: ``runs_dir/<name>/seed<k>``. All students learn from the same stage-A teacher, except
    ``tinybert_single_teacher`` (the single-domain teachers of ``single_teacher_dir``, else trained per seed).
    """
    tdirs = {"multitask": str(teacher_dir), "single": str(single_teacher_dir) if single_teacher_dir else None}
    for b in baselines:
        check_choice("baseline", b, BASELINES)
    out: dict[str, list[dict]] = {}
    for name in [*variants, *baselines]:
        out[name] = []
        for seed in seeds:
            sctx = sub_context(ctx, Path(runs_dir) / name / f"seed{seed}", seed)
            if name in BASELINES:
                def fn(sctx=sctx, name=name) -> dict:
                    m = BASELINES[name](sctx, tdirs)
                    if not keep_checkpoints:
                        remove_checkpoints(sctx.out_dir)
                    return m
            else:
                def fn(sctx=sctx, name=name) -> dict:
                    return run_hrkd(sctx, preset_name=name, teacher_dir=str(teacher_dir),
                                    keep_checkpoints=keep_checkpoints)
            out[name].append(cached(sctx.out_dir, fn, reuse))
    return out


def hrkd_few_shot_curve(data: MultiDomainData, profile: Profile, runs_dir: Path, fractions: Sequence[float], *,
                   methods: Sequence[str] = ("hrkd", "tinybert"), seed: int = 0, teacher: str = "fraction",
                   tokenizer=None, progress: bool = False, reuse: bool = True) -> dict[str, dict[float, dict]]:
    """Test accuracy vs the fraction of each domain's train split kept (docs/methods/hrkd.md §1.3 few-shot).

    ``teacher="fraction"``: stage A is retrained on the same fraction (the MNLI scripts);
    ``"full"``: every fraction distils from the full-data teacher (the Amazon scripts).
    Returns ``{method: {fraction: metrics}}``; folders ``runs_dir/frac<f>/...``.
    """
    check_choice("few-shot teacher", teacher, ("fraction", "full"))
    out: dict[str, dict[float, dict]] = {m: {} for m in methods}
    full_tdir = None
    if teacher == "full":
        fctx = prepare(profile, data, seed=seed, out_dir=runs_dir, progress=progress, tokenizer=tokenizer)
        full_tdir = train_multi_teacher(fctx, Path(runs_dir) / "full", reuse)[1]
    for frac in fractions:
        sub = data.few_shot(frac, seed=seed) if frac < 1 else data
        fdir = Path(runs_dir) / f"frac{frac:g}"
        ctx = prepare(profile, sub, seed=seed, out_dir=fdir, progress=progress, tokenizer=tokenizer)
        tdir = full_tdir if full_tdir is not None else train_multi_teacher(ctx, fdir, reuse)[1]
        res = run_comparison(ctx, tdir, fdir, variants=[m for m in methods if m not in BASELINES],
                             baselines=[m for m in methods if m in BASELINES], seeds=[seed], reuse=reuse)
        for m in methods:
            out[m][float(frac)] = res[m][0]
    return out


def summarize(runs: dict[str, list[dict]], split: str = "test") -> dict[str, dict[str, tuple[float, float, int]]]:
    """``{name: {domain or "average": (mean, std, n)}}`` of accuracies over seeds (std = 0 for one seed)."""
    out: dict[str, dict[str, tuple[float, float, int]]] = {}
    for name, ms in runs.items():
        keys = list(ms[0]["accuracy"][split])
        out[name] = {}
        for k in keys:
            vals = np.array([m["accuracy"][split][k] for m in ms], dtype=float)
            out[name][k] = (float(vals.mean()), float(vals.std(ddof=1)) if len(vals) > 1 else 0.0, len(vals))
    return out


def compare_runs(runs: dict[str, list[dict]], a: str, b: str, test_sizes: Sequence[int],
                 split: str = "test") -> Comparison:
    """The package's noise rule (:func:`hrkd_lite.noise.compare`) on two methods' average accuracy.

    Runs are paired seed by seed in the order they were run (a one-seed ablation pairs with the first seed
    of a three-seed method); ``test_sizes`` are the per-domain sizes of ``split`` (binomial noise).
    """
    ra = [m["accuracy"][split]["average"] for m in runs[a]]
    rb = [m["accuracy"][split]["average"] for m in runs[b]]
    k = min(len(ra), len(rb))
    return compare(ra[:k], rb[:k], list(test_sizes), paired=True)


def results_markdown(runs: dict[str, list[dict]], split: str = "test", labels: dict[str, str] | None = None) -> str:
    """Markdown table of per-domain accuracy (%), mean ± std over seeds, one row per run name."""
    summary = summarize(runs, split)
    first = next(iter(summary.values()))
    domains = [k for k in first if k != "average"] + ["average"]
    lines = ["| run | seeds | " + " | ".join(domains) + " |", "|---|---|" + "---|" * len(domains)]
    for name, cells in summary.items():
        n = next(iter(cells.values()))[2]
        shown = [f"{100 * cells[d][0]:.1f} ± {100 * cells[d][1]:.1f}" if n > 1 else f"{100 * cells[d][0]:.1f}"
                 for d in domains]
        lines.append(f"| {(labels or {}).get(name, name)} | {n} | " + " | ".join(shown) + " |")
    return "\n".join(lines)


def run_graph(ctx: RunContext, rec: Recording, atol: float = 1e-5) -> MetaGraph:
    """The MetaGraph of a recorded run, rebuilt from the run's seed and switches (``rec.meta``).

    With ``graph_trainable=False`` (the reference code) the graph never leaves its init, so the rebuilt
    graph *is* the run's graph. Checked, not assumed: its eval-mode weights on the recorded per-group
    prototypes must equal the recorded ``snap_weights_eval`` to ``atol`` (HrkdError otherwise, e.g. for a
    trainable graph, whose recorded weights come from moved parameters). Returned in eval mode on the CPU.
    """
    cfg = HRKDConfig(**rec.meta["config"])
    if not cfg.use_graph:
        raise HrkdError("a no-graph run has no MetaGraph to rebuild")
    sctx = sub_context(ctx, ctx.out_dir, int(rec.meta["seed"]))
    graph = build_hrkd_student(sctx, cfg, int(rec.snap_prototypes.shape[-1])).graph.cpu().eval()
    groups = rec.snap_groups_masked if cfg.prototype_masked else rec.snap_groups_padding
    if len(groups) == 0:
        raise HrkdError("the recording has no per-group prototype snapshots; rerun it with this package")
    with torch.no_grad():
        again = np.stack([graph(torch.as_tensor(g)).weights.mean(dim=0).numpy() for g in groups])
    gap = float(np.abs(again - rec.snap_weights_eval).max())
    if gap > atol:
        raise HrkdError(f"the rebuilt graph gives weights {gap:.2e} away from the recorded ones (tolerance "
                        f"{atol:g}); only a frozen graph (graph_trainable=False) can be rebuilt from its seed")
    return graph


# ------------------------------------------------------------------ notebook 04, §5: the results table

#: The HRKD variants of the results table, in table order, and the baselines (``BASELINES``).
VARIANTS = ("hrkd", "trainable_graph", "no_graph", "no_hierarchy", "averaging", "no_reference_attention")
TABLE_BASELINES = ("student", "tinybert")
#: Variants run with every seed of the profile; on ``cpu`` the three architecture ablations get one seed.
MAIN_VARIANTS = ("hrkd", "trainable_graph", "no_graph")
LABELS = {"student": "student (no KD)", "tinybert": "TinyBERT-KD (single)", "hrkd": "HRKD (frozen graph)",
          "trainable_graph": "HRKD (trainable graph)", "no_graph": "w/o graph (multi TinyBERT-KD)",
          "no_hierarchy": "w/o hierarchy", "averaging": "averaging", "no_reference_attention": "w/o self-attention"}


def results_suite(ctx: RunContext, teacher_dir: Path, runs_dir: Path, seeds: Sequence[int], *,
                  ablation_seeds: Sequence[int] | None = None, reuse: bool = True) -> dict[str, list[dict]]:
    """Every run of notebook 04's results table: :data:`MAIN_VARIANTS` and the baselines for ``seeds``, the
    other variants for ``ablation_seeds`` (default ``seeds``; ``[]`` skips them, as the fast path does).
    ``{name: [metrics per seed]}`` in table order, without the variants that ran no seed."""
    res = run_comparison(ctx, teacher_dir, runs_dir, variants=list(MAIN_VARIANTS), baselines=list(TABLE_BASELINES),
                         seeds=list(seeds), reuse=reuse)
    rest = [v for v in VARIANTS if v not in MAIN_VARIANTS]
    res.update(run_comparison(ctx, teacher_dir, runs_dir, variants=rest, baselines=[],
                              seeds=list(ablation_seeds if ablation_seeds is not None else seeds), reuse=reuse))
    return {k: res[k] for k in (*VARIANTS, *TABLE_BASELINES) if res.get(k)}


def graph_change_report(results: dict[str, list[dict]]) -> list[str]:
    """One line per graph variant: how far its graph parameters moved (``graph_max_abs_change``).

    Checked: a frozen graph (every variant but ``trainable_graph``) must not have moved at all, and a
    trainable one must have moved; HrkdError names the run otherwise. ``no_graph`` has no graph.
    """
    lines = []
    for name, runs in results.items():
        if name in BASELINES or name == "no_graph":
            continue
        moved = [float(m["graph_max_abs_change"]) for m in runs]
        frozen = name != "trainable_graph"
        if (frozen and any(v != 0.0 for v in moved)) or (not frozen and not all(v > 0 for v in moved)):
            raise HrkdError(f"{name}: graph parameters moved by {moved}, expected "
                            f"{'exactly 0 (frozen graph)' if frozen else '> 0 (trainable graph)'}")
        lines.append(f"{LABELS.get(name, name):32s} largest change of a graph parameter: "
                     f"{', '.join(f'{v:.3g}' for v in moved)} ({'frozen' if frozen else 'trained'})")
    return lines


def few_shot_teachers(runs_dir: Path, fractions: Sequence[float], full: dict | None = None,
                      key: str = "average") -> dict[float, float]:
    """Test accuracy of the stage-A teacher behind each few-shot point (read from ``runs_dir/frac<f>/teacher``,
    as :func:`few_shot_curve` with ``teacher="fraction"`` wrote them); ``full`` adds fraction 1.0."""
    out = {float(f): float(read_metrics(Path(runs_dir) / f"frac{f:g}" / "teacher")["accuracy"]["test"][key])
           for f in fractions}
    if full is not None:
        out[1.0] = float(full["accuracy"]["test"][key])
    return out

"""One data-scarce domain: does HRKD use its neighbour, and does its graph leave uniform?

The setting (synthetic data, so the relations between domains are known): every domain keeps its full
train split except the *target*, which keeps a fraction of it (the few-shot prefix rule,
``MultiDomainData.few_shot(..., domains=[target])``). The target's nearest domain by the ground-truth
lexicon similarity shares its group's polarity words (kitchen and electronics are both "devices"), so a
method that transfers from related domains has something to gain there.

Runs (all from the same stage-A multi-task teacher, trained on the scarce data): HRKD with the reference's
frozen graph, HRKD with a trainable graph, multi-domain TinyBERT-KD without a graph, single-domain
TinyBERT-KD and the no-KD student, for every seed. The report gives the target's test accuracy of each
with the package's noise rule (:func:`hrkd_lite.noise.compare`), and for each graph variant how far the
domain weights w_m (L, D) depart from uniform 1/D, over the recorded training steps (train mode: GAT
dropout on, as the loss saw them) and at the snapshots (eval mode: the graph's deterministic part).

``python -m hrkd_lite scarce --profile cpu --out runs/scarce`` writes ``OUT/scarce.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hrkd_lite.data import MultiDomainData, load_data
from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.experiments.nb04 import run_comparison, train_multi_teacher
from hrkd_lite.methods.hrkd.recorder import Recording
from hrkd_lite.methods.shared.context import prepare
from hrkd_lite.noise import Comparison, compare, format_accuracy
from hrkd_lite.profiles import Profile
from hrkd_lite.utils import atomic_write_json

GRAPH_VARIANTS = ("hrkd", "trainable_graph")
METHODS = (*GRAPH_VARIANTS, "no_graph", "tinybert", "student")
#: (a, b) pairs compared on the target domain
COMPARISONS = (("hrkd", "no_graph"), ("hrkd", "tinybert"), ("trainable_graph", "no_graph"), ("hrkd", "student"))


def scarce_data(profile: Profile, target: str = "kitchen", fraction: float = 0.1,
                seed: int = 0) -> MultiDomainData:
    """The profile's synthetic data with ``target``'s train split cut to ``fraction`` (prefix rule)."""
    data = load_data("synthetic", profile=profile, seed=seed)
    check_choice("target domain", target, data.domains)
    return data.few_shot(fraction, seed=seed, domains=[target])


def nearest_domain(data: MultiDomainData, target: str) -> str:
    """The domain with the highest ground-truth similarity to ``target`` (synthetic data only)."""
    if data.similarity is None:
        raise HrkdError(f"data source {data.source!r} has no ground-truth similarity; use synthetic data")
    i = data.domains.index(target)
    row = np.array(data.similarity[i], dtype=float)
    row[i] = -np.inf
    return data.domains[int(np.argmax(row))]


def graph_departure(run_dir: str | Path, target: str, nearest: str) -> dict:
    """How far one HRKD run's domain weights w_m depart from uniform 1/D.

    Reads ``recorded.npz``: ``weights`` (steps, L, D) as the loss used them, ``snap_weights_eval`` (K, L, D).
    Returns the largest |w - 1/D| over steps, layers and domains (``max_dev_train``), its mean over steps of
    the per-step largest (``mean_dev_train``), the same largest at the eval-mode snapshots
    (``max_dev_eval``), and the mean weight of ``target`` and ``nearest`` over steps and layers.
    """
    rec = Recording.load(run_dir)
    w = np.asarray(rec.weights, dtype=float)
    if w.size == 0 or np.isnan(w).any():
        raise HrkdError(f"{run_dir}: the recording holds no graph weights (a no-graph run?)")
    uniform = 1.0 / w.shape[-1]
    dev = np.abs(w - uniform)
    ev = np.asarray(rec.snap_weights_eval, dtype=float)
    return {"uniform": uniform, "max_dev_train": float(dev.max()),
            "mean_dev_train": float(dev.reshape(len(dev), -1).max(axis=1).mean()),
            "max_dev_eval": float(np.abs(ev - uniform).max()) if ev.size else float("nan"),
            "target_weight": float(w[..., rec.domains.index(target)].mean()),
            "nearest_weight": float(w[..., rec.domains.index(nearest)].mean()),
            "steps": int(len(w))}


def run_scarce(profile: Profile, runs_dir: str | Path, *, target: str = "kitchen", fraction: float = 0.1,
               seeds: Sequence[int] | None = None, data_seed: int = 0, tokenizer=None, progress: bool = False,
               reuse: bool = True) -> dict:
    """Every run of the setting (reused when its ``metrics.json`` exists); returns and writes ``scarce.json``."""
    runs_dir = Path(runs_dir)
    data = scarce_data(profile, target, fraction, data_seed)
    nearest = nearest_domain(data, target)
    seeds = list(profile.seeds if seeds is None else seeds)
    ctx = prepare(profile, data, seed=seeds[0], out_dir=runs_dir, progress=progress, tokenizer=tokenizer)
    teacher, tdir = train_multi_teacher(ctx, runs_dir, reuse)
    runs = run_comparison(ctx, tdir, runs_dir, variants=list(GRAPH_VARIANTS) + ["no_graph"],
                          baselines=["tinybert", "student"], seeds=seeds, reuse=reuse)
    acc = {m: {"target": [float(r["accuracy"]["test"][target]) for r in runs[m]],
               "average": [float(r["accuracy"]["test"]["average"]) for r in runs[m]]} for m in METHODS}
    n_test = len(data.splits[target]["test"])
    comps = {f"{a} vs {b}": compare(acc[a]["target"], acc[b]["target"], n_test).to_dict() for a, b in COMPARISONS}
    graph = {v: [graph_departure(runs_dir / v / f"seed{s}", target, nearest) for s in seeds] for v in GRAPH_VARIANTS}
    result = {"profile": profile.name, "target": target, "nearest": nearest, "fraction": fraction,
              "similarity_to_target": dict(zip(data.domains, map(float, data.similarity[data.domains.index(target)]))),
              "train_sizes": {d: len(data.splits[d]["train"]) for d in data.domains}, "test_size": n_test,
              "seeds": seeds, "teacher": {"target": float(teacher["accuracy"]["test"][target]),
                                          "average": float(teacher["accuracy"]["test"]["average"])},
              "accuracy": acc, "comparisons": comps, "graph": graph}
    atomic_write_json(runs_dir / "scarce.json", result)
    return result


def scarce_report(result: dict) -> list[str]:
    """The lines ``python -m hrkd_lite scarce`` prints: setting, accuracies, verdicts, graph departure."""
    t, near = result["target"], result["nearest"]
    sizes = result["train_sizes"]
    lines = [f"target {t}: {sizes[t]} train reviews (others {min(v for d, v in sizes.items() if d != t)}+), "
             f"{result['test_size']} test; nearest domain {near} "
             f"(similarity {result['similarity_to_target'][near]:.2f})",
             f"teacher on {t}: {100 * result['teacher']['target']:.1f} (1 run)"]
    for m in METHODS:
        lines.append(f"{m:16s} {t}: {format_accuracy(result['accuracy'][m]['target'])}   "
                     f"average: {format_accuracy(result['accuracy'][m]['average'])}")
    for key, c in result["comparisons"].items():
        lines.append(f"{t}: {Comparison(**c).sentence(*key.split(' vs '))}")
    for v, per_seed in result["graph"].items():
        g = per_seed[0]
        lines.append(f"{v}: max |w - 1/D| {max(s['max_dev_train'] for s in per_seed):.3g} in training "
                     f"(dropout on), {max(s['max_dev_eval'] for s in per_seed):.3g} in eval mode; mean weight "
                     f"{t} {np.mean([s['target_weight'] for s in per_seed]):.4f}, {near} "
                     f"{np.mean([s['nearest_weight'] for s in per_seed]):.4f} (uniform {g['uniform']:.4f})")
    return lines

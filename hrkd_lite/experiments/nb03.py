"""The experiments of notebook 03 (``docs/methods/meta_kd.md`` §9, §11) as plain functions returning plain dicts.

Every function reuses finished runs under ``ctx.out_dir`` (teachers and students are cached by their
switches), and keeps each ``run meta-kd`` result as ``ctx.out_dir/metrics_<label>.json``.

- :func:`student_grid`: teachers single / mix / meta and the student distilled from each, per target.
- :func:`weighting_toggle`: per-instance λ_i vs the EasyNLP batch-mean bug (docs/methods/meta_kd.md §5.1).
- :func:`tkd_sweep`: students for several γ₂ (weight of the TKD feature loss).
- :func:`metakd_few_shot_curve`, :func:`zero_shot`: scarce / no target data (docs/methods/meta_kd.md §11).
- :func:`corruption_probe`: domain probe on teacher features with and without the corruption loss.
- :func:`noise_verdict`: is a difference of accuracies larger than its sampling noise?
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hrkd_lite.data import load_data
from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.config import MetaKDConfig
from hrkd_lite.methods.metakd.features import prototype_scores, scores_by_domain
from hrkd_lite.methods.metakd.meta_teacher import meta_teacher_name, train_meta_teacher
from hrkd_lite.methods.metakd.probe import domain_probe
from hrkd_lite.methods.metakd.runner import TeacherView, expertise_table, run_meta_kd
from hrkd_lite.methods.metakd.scores import PrototypeScores
from hrkd_lite.methods.shared.context import RunContext, prepare
from hrkd_lite.models.factory import load_encoder
from hrkd_lite.noise import compare
from hrkd_lite.utils import atomic_write_json

VARIANTS = ("single", "mix", "meta")


def run_labelled(ctx: RunContext, label: str, **kwargs: Any) -> dict:
    """``run_meta_kd(ctx, **kwargs)``, its metrics also kept as ``metrics_<label>.json``."""
    metrics = run_meta_kd(ctx, **kwargs)
    atomic_write_json(ctx.out_dir / f"metrics_{label}.json", metrics)
    return metrics


def student_grid(ctx: RunContext, targets: Sequence[str], **switches: Any) -> dict[str, dict]:
    """For each teacher variant: ``{"teacher": {dom: test acc}, "student": {dom: test acc}, "metrics"}``."""
    out = {}
    for variant in VARIANTS:
        m = run_labelled(ctx, f"student_{variant}", teacher=variant, targets=",".join(targets), **switches)
        out[variant] = {"teacher": {d: m["per_target"][d]["teacher_test"] for d in targets},
                        "student": {d: m["accuracy"]["test"][d] for d in targets}, "metrics": m}
    return out


def weighting_toggle(ctx: RunContext, targets: Sequence[str]) -> dict[str, dict[str, float]]:
    """Meta-KD students with ``instance_weighting`` per_instance vs batch_mean: test acc per target."""
    out = {}
    for mode in ("per_instance", "batch_mean"):
        m = run_labelled(ctx, f"weighting_{mode}", teacher="meta", targets=",".join(targets),
                         instance_weighting=mode)
        out[mode] = {d: m["accuracy"]["test"][d] for d in targets}
    return out


def tkd_sweep(ctx: RunContext, target: str, weights: Sequence[float]) -> dict[float, float]:
    """Meta-KD student test accuracy on ``target`` for each γ₂ in ``weights``."""
    out = {}
    for w in weights:
        m = run_labelled(ctx, f"tkd_{w:g}", teacher="meta", targets=target, tkd_weight=float(w))
        out[float(w)] = m["accuracy"]["test"][target]
    return out


def metakd_few_shot_curve(ctx: RunContext, target: str, fractions: Sequence[float],
                   variants: Sequence[str] = ("mix", "meta")) -> dict[str, dict[float, float]]:
    """Student test accuracy on ``target`` per fraction of its training split, per teacher variant.

    Fraction 1.0 is the full-data run; smaller fractions retrain the teacher on the reduced target.
    """
    out: dict[str, dict[float, float]] = {v: {} for v in variants}
    for v in variants:
        for f in fractions:
            few = None if f >= 1.0 else float(f)
            m = run_labelled(ctx, f"fewshot_{v}_{f:g}", teacher=v, targets=target, target_few_shot=few)
            out[v][float(f)] = m["accuracy"]["test"][target]
    return out


def few_shot_teachers(ctx: RunContext, target: str, curve: Mapping[str, Mapping[float, float]]
                      ) -> dict[str, dict[float, float]]:
    """The teachers behind :func:`few_shot_curve`'s points: each variant's teacher test accuracy on
    ``target`` per fraction, read back from the ``metrics_fewshot_<variant>_<fraction>.json`` the curve wrote."""
    out: dict[str, dict[float, float]] = {}
    for v, pts in curve.items():
        out[v] = {}
        for f in pts:
            m = json.loads((ctx.out_dir / f"metrics_fewshot_{v}_{f:g}.json").read_text())
            out[v][float(f)] = float(m["per_target"][target]["teacher_test"])
    return out


def zero_shot(ctx: RunContext, target: str) -> dict[str, float]:
    """Test accuracy on ``target``: teachers with/without it and the students distilled from them."""
    full = run_labelled(ctx, "student_meta_target", teacher="meta", targets=target)
    zs = run_labelled(ctx, f"zeroshot_{target}", teacher="meta", targets=target, zero_shot=True)
    return {"meta-teacher (all domains)": full["per_target"][target]["teacher_test"],
            "meta-teacher (without target)": zs["per_target"][target]["teacher_test"],
            "student of meta-teacher": full["accuracy"]["test"][target],
            "student of zero-shot meta-teacher": zs["accuracy"]["test"][target]}


def corruption_probe(ctx: RunContext, seed: int = 0) -> dict[str, float]:
    """Linear-probe domain accuracy (test split) on h̄ of: the pre-trained encoder, the meta-teacher with
    the corruption loss, and the same teacher without it (best-mean checkpoints). Chance = 1/K."""
    on = MetaKDConfig()
    off = on.with_overrides(use_domain_loss=False)
    res = {"chance": 1.0 / len(ctx.domains),
           "pre-trained encoder": domain_probe(load_encoder(ctx.profile.teacher).to(ctx.device), ctx, seed=seed)}
    for label, cfg in (("meta-teacher, corruption loss on", on), ("meta-teacher, corruption loss off", off)):
        bank = train_meta_teacher(ctx, cfg, meta_teacher_name(cfg))
        res[label] = domain_probe(bank.load().classifier.encoder, ctx, seed=seed)
    return res


def noise_verdict(acc_a: float, acc_b: float, n: int, z: float = 2.0) -> dict[str, Any]:
    """Compare two one-seed accuracies measured on ``n`` test examples each, with the package's noise
    rule (:func:`hrkd_lite.noise.compare`; one seed, so only the binomial test-set noise is measured).

    Returns:
        ``{"diff", "se", "verdict", "sentence"}`` with verdict ``"gain"``, ``"loss"`` or ``"within noise"``.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    c = compare(acc_a, acc_b, n, z=z)
    verdict = ("gain" if c.diff > 0 else "loss") if c.beyond else "within noise"
    return {"diff": c.diff, "se": c.se_test, "verdict": verdict, "sentence": c.sentence()}


def mean_over(acc: dict[str, float]) -> float:
    """Mean of per-domain accuracies (ignores an ``average`` key)."""
    return float(np.mean([v for k, v in acc.items() if k != "average"]))


def lambda_table(ctx: RunContext, target: str, cfg: MetaKDConfig | None = None) -> dict[str, np.ndarray]:
    """p_T(y|x), t_i and λ_i (N,) for every training row of ``target`` under the (cached) meta-teacher."""
    cfg = cfg or MetaKDConfig()
    k = ctx.data.domain_index(target)
    bank = train_meta_teacher(ctx, cfg, meta_teacher_name(cfg))
    scores = scores_by_domain(prototype_scores(ctx, cfg), range(len(ctx.domains)), len(ctx.domains))[k]
    return expertise_table(TeacherView(bank[k], 0), ctx, k, scores)


def synthetic_scores(ctx: RunContext, ps: PrototypeScores, cfg: MetaKDConfig, out_dir: Path
                     ) -> tuple[RunContext, PrototypeScores, np.ndarray]:
    """t_i on synthetic data, where the generator logged each review's true share of transferable cues.

    When ``ctx`` already holds synthetic data its scores ``ps`` are reused; otherwise (Amazon) the synthetic
    data of the same profile and seed is prepared under ``out_dir`` and scored. Returns the context, the
    scores and ``transferable_share`` (N,) in the same row order (used only to evaluate t_i, never to train).
    """
    if ctx.data.source != "synthetic":
        syn = load_data("synthetic", profile=ctx.profile, seed=ctx.seed)
        ctx = prepare(ctx.profile, syn, seed=ctx.seed, out_dir=out_dir, progress=False, tokenizer=ctx.tokenizer)
        ps = prototype_scores(ctx, cfg)
    share = np.concatenate([np.asarray(ctx.data.split(d, "train")["transferable_share"], dtype=float)
                            for d in ctx.data.domains])
    if len(share) != len(ps.scores):
        raise HrkdError(f"{len(share)} transferable shares for {len(ps.scores)} scores")
    return ctx, ps, share


def correlation_verdict(summary: Mapping[str, float]) -> str:
    """The sign of a correlation only when its 95 % bootstrap interval excludes 0 (``correlation_summary``)."""
    if summary["ci_low"] > 0:
        return "positive: the 95% bootstrap interval excludes 0"
    if summary["ci_high"] < 0:
        return "negative: the 95% bootstrap interval excludes 0"
    return "not distinguishable from 0 at this sample size (the 95% interval contains 0)"

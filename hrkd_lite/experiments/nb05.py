"""Notebook 05 and ``reproduce``'s tables: the measured runs summarised per method, verdicts, claims.

Input: the ``runs`` list of ``results.json`` (:mod:`hrkd_lite.experiments.reproduce`), one entry per run and
seed with its ``metrics`` and measured ``cost``. Nothing here invents a number: every cell is a mean (and a
spread over seeds) of what the runs wrote; a one-seed cell says "1 seed".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from hrkd_lite.errors import check_choice
from hrkd_lite.noise import Comparison, compare, format_accuracy
from hrkd_lite.viz.comparison_views import METRICS, pareto_front

L2A_ROWS = ("teacher (source+target)", "teacher (target)", "student, no KD", "KD, target only",
            "KD + random augmentation", "KD + learned selection (L2A-style)")

#: What each method transfers from the teacher (the method notes' "what each method transfers" table).
TRANSFERS = {
    "teacher": "- (fine-tuned on gold labels)", "teacher-mixed": "- (fine-tuned on gold labels)",
    "student": "nothing (gold labels only)", "kd": "soft logits (KL at temperature T) + gold CE",
    "tinybert": "embeddings, attention scores, hidden states (MSE through W_h), soft logits",
    "tinybert-multi": "as TinyBERT-KD, one student over all domains",
    "adabert": "final logits + per-layer probe logits; an architecture searched under an efficiency loss",
    "meta-kd": "as TinyBERT-KD from a meta-teacher, instance weights λ_i, domain-corrupted features",
    "hrkd": "as multi-domain TinyBERT-KD, each domain's layer losses weighted by a domain-relational graph",
    "l2a": "soft logits on the scarce target plus teacher-labelled generated text kept by a selector",
}


@dataclass
class Row:
    """One method over its seeds. ``acc``: domain (and "average") -> per-seed test accuracies in [0, 1]."""

    key: str
    label: str
    group: str
    seeds: list[int]
    acc: dict[str, list[float]]
    params: float | None = None  # total, millions
    ms1: float | None = None
    ms32: float | None = None
    train_s: float | None = None
    memory: float | None = None  # MB added over the start of the run (sampled RSS), mean over seeds
    teacher_forwards: float | None = None  # examples through a frozen teacher encoder, mean over seeds
    extra: dict = field(default_factory=dict)

    def value(self, metric: str) -> float | None:
        check_choice("metric", metric, METRICS)
        return getattr(self, metric)


def _mean(xs: Sequence[float | None]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return float(np.mean(vals)) if vals else None


def summarize(runs: Sequence[dict], split: str = "test") -> list[Row]:
    """One :class:`Row` per run key (plan order), plus the L2A run's own rows (``l2a:<name>``)."""
    order = list(dict.fromkeys(r["key"] for r in runs))
    rows: list[Row] = []
    for key in order:
        rs = [r for r in runs if r["key"] == key]
        m0 = rs[0]["metrics"]
        doms = [d for d in m0["accuracy"][split] if d != "average"]
        acc = {d: [r["metrics"]["accuracy"][split][d] for r in rs] for d in [*doms, "average"]}
        params = [r["metrics"].get("params", {}).get("total") for r in rs]
        row = Row(key, rs[0]["label"], rs[0]["group"], [r["seed"] for r in rs], acc,
                  params=_mean([p / 1e6 if p else None for p in params]),
                  ms1=_mean([r["metrics"].get("latency_ms", {}).get("batch1") for r in rs]),
                  ms32=_mean([r["metrics"].get("latency_ms", {}).get("batch32") for r in rs]),
                  train_s=_mean([r["cost"].get("wall_s") for r in rs]),
                  memory=_mean([r["cost"].get("added_rss_mb") for r in rs]),
                  teacher_forwards=_mean([r["cost"].get("teacher_forward_examples") for r in rs]))
        if key == "l2a":
            rows += _l2a_rows(rs, row, split)
        else:
            rows.append(row)
    return rows


def _l2a_rows(rs: list[dict], run_row: Row, split: str) -> list[Row]:
    """The L2A run's teachers and students on its target domain (params/latency: its reported student's)."""
    m0 = rs[0]["metrics"]
    tgt = m0["target_domain"]
    out = []
    for name in L2A_ROWS:
        accs = [r["metrics"]["baselines"][name][split] for r in rs]
        row = Row(f"l2a:{name}", f"L2A setting ({m0['source_domain']} -> {tgt}, N = {m0['target_labels']}): "
                  f"{name}", "l2a", run_row.seeds, {tgt: accs, "average": accs},
                  extra={"test_examples": m0.get("test_examples")})
        if name == L2A_ROWS[-1]:
            for attr in ("params", "ms1", "ms32", "train_s", "memory", "teacher_forwards"):
                setattr(row, attr, getattr(run_row, attr))
        out.append(row)
    return out


def _fmt(x: float | None, spec: str) -> str:
    return "–" if x is None else format(x, spec)


def table_markdown(rows: Sequence[Row], teacher_key: str = "teacher") -> str:
    """Per-domain test accuracy (mean ± sd over seeds), parameters, latency @1/@32, speed-up @32 over the
    teacher, training time; the L2A rows in a second table (they have their own setting)."""
    main = [r for r in rows if r.group != "l2a"]
    l2a = [r for r in rows if r.group == "l2a"]
    t = next((r for r in rows if r.key == teacher_key), None)
    parts = []
    for block in (main, l2a):
        if not block:
            continue
        doms = [d for d in block[0].acc if d != "average"] if block is l2a else \
            list(dict.fromkeys(d for r in block for d in r.acc if d != "average"))
        head = ["method", *doms] + ([] if block is l2a else ["average"])
        head += ["params (M)", "ms @1", "ms @32", "speed-up @32", "train time (s)"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in block:
            cells = [r.label] + [format_accuracy(r.acc[d]) if d in r.acc else "–" for d in doms]
            if block is not l2a:
                cells.append(format_accuracy(r.acc["average"]))
            speed = t.ms32 / r.ms32 if (t is not None and t.ms32 and r.ms32) else None
            cells += [_fmt(r.params, ".2f"), _fmt(r.ms1, ".1f"), _fmt(r.ms32, ".1f"),
                      "–" if speed is None else f"{speed:.1f}x", _fmt(r.train_s, ".0f")]
            lines.append("| " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def cost_markdown(rows: Sequence[Row]) -> str:
    """What each method transfers and what its run cost here (training time, memory, teacher forwards)."""
    lines = ["| method | transfers | train time (s) | peak memory added (MB) | teacher forwards (examples) |",
             "|---|---|---|---|---|"]
    for r in rows:
        if r.group == "l2a" and r.train_s is None:
            continue
        base = r.key.split(":")[0]
        base = next((k for k in sorted(TRANSFERS, key=len, reverse=True) if base.startswith(k)), base)
        lines.append(f"| {r.label} | {TRANSFERS.get(base, '-')} | {_fmt(r.train_s, '.0f')} | "
                     f"{_fmt(r.memory, '.0f')} | {_fmt(r.teacher_forwards, ',.0f')} |")
    return "\n".join(lines)


def verdict(rows: Sequence[Row], a: str, b: str, sizes: dict[str, int], z: float = 2.0) -> Comparison:
    """:func:`hrkd_lite.noise.compare` of two rows' accuracy averaged over the domains both report.

    Paired by seed when both have the same seeds; ``sizes``: per-domain test sizes (binomial noise);
    ``z``: width of the band in standard errors.
    """
    ra, rb = next(r for r in rows if r.key == a), next(r for r in rows if r.key == b)
    doms = [d for d in ra.acc if d != "average" and d in rb.acc]
    xa = np.mean([ra.acc[d] for d in doms], axis=0)
    xb = np.mean([rb.acc[d] for d in doms], axis=0)
    paired = ra.seeds == rb.seeds
    return compare(xa.tolist(), xb.tolist(), [sizes[d] for d in doms], paired=paired, z=z)


def front_labels(rows: Sequence[Row], metric: str) -> list[str]:
    """Labels of the cross-method rows on the Pareto front of average accuracy against ``metric``."""
    pts = [(r.label, r.value(metric), float(np.mean(r.acc["average"]))) for r in rows
           if r.group != "l2a" and r.value(metric)]
    return [pts[i][0] for i in pareto_front([p[1] for p in pts], [p[2] for p in pts])]


#: The differences the course asks about: (a, b, question). Pairs whose rows are missing are skipped.
VERDICTS = (
    ("kd", "student", "does Hinton KD beat the student without KD?"),
    ("tinybert", "kd", "do TinyBERT's layer losses add to Hinton KD?"),
    ("tinybert-multi", "tinybert", "one multi-domain student vs one student per domain"),
    ("adabert", "tinybert", "AdaBERT's searched network vs the 2-layer TinyBERT-KD student"),
    ("meta-kd", "tinybert", "Meta-KD vs single-domain TinyBERT-KD"),
    ("hrkd", "tinybert-multi", "HRKD vs multi-domain TinyBERT-KD (what the graph adds)"),
    ("hrkd", "tinybert", "HRKD vs single-domain TinyBERT-KD"),
    ("hrkd", "meta-kd", "HRKD vs Meta-KD"),
    ("hrkd", "teacher", "HRKD student vs its teacher"),
    ("l2a:KD + learned selection (L2A-style)", "l2a:KD + random augmentation", "L2A: learned vs random selection"),
    ("l2a:KD + learned selection (L2A-style)", "l2a:teacher (source+target)", "L2A: student vs its teacher"),
    *((f"hrkd-{p}", "hrkd", f"HRKD ablation {p} vs HRKD") for p in (
        "no_graph", "trainable_graph", "detached", "no_hierarchy", "averaging", "no_reference_attention")),
    *((f"adabert-{k}", "adabert", f"AdaBERT ablation {k} vs AdaBERT") for k in (
        "no-kd", "logit-kd", "uniform-probes", "no-le")),
    *((f"meta-kd-{k}", "meta-kd", f"Meta-KD ablation {k} vs Meta-KD") for k in ("mix", "single", "batch-mean")),
)


def verdict_lines(rows: Sequence[Row], sizes: dict[str, int], z: float = 2.0) -> list[tuple[str, Comparison, str]]:
    """``(question, Comparison, sentence)`` for every pair of :data:`VERDICTS` whose rows exist."""
    have = {r.key: r for r in rows}
    out = []
    for a, b, question in VERDICTS:
        if a in have and b in have:
            c = verdict(rows, a, b, sizes, z)
            out.append((question, c, c.sentence(have[a].label, have[b].label)))
    return out


#: "What the papers claim vs what we measured": (row key, compared with, claim, provenance, note, why ours
#: may differ).
CLAIMS = (
    ("tinybert", "teacher", "TinyBERT-4L is \"7.5x smaller and 9.4x faster\" than BERT-base",
     "reference code (TinyBERT README)", "docs/methods/background.md §0",
     "our teacher is MiniLM-L6 (22.7M) not BERT-base (109M); the student keeps the teacher's whole embedding "
     "table; CPU latency at the profile's sequence length"),
    ("adabert", "teacher", "\"12.7x to 29.3x faster than BERT in inference time and 11.5x to 17.0x smaller\", "
     "\"comparable performance\"", "abstract", "docs/methods/adabert.md §1",
     "MiniLM-L6 teacher, not BERT-base; tiny search (d and K_max of the profile); no data augmentation; "
     "per-task numbers NOT FOUND"),
    ("meta-kd", "tinybert", "a meta-teacher \"capturing transferable knowledge at both instance-level and feature-level\" "
     "gives better students than distilling within one domain; per-domain numbers NOT FOUND",
     "abstract", "docs/methods/meta_kd.md §1, §7",
     "a few hundred examples per domain, MiniLM-L6 teacher, 2-layer student, short training"),
    ("hrkd", "tinybert-multi", "domain-relational graphs built with meta-learning ideas improve multi-domain distillation; "
     "result and ablation tables NOT FOUND", "abstract", "docs/methods/hrkd.md §0, §4",
     "the graph is not trained in the reference code (nor here by default); small data, short training"),
    ("l2a:KD + learned selection (L2A-style)", "l2a:teacher (source+target)", "students \"even perform better than the original large teacher "
     "model, with much fewer parameters (only ~13.3%)\" with few labels", "abstract", "docs/methods/l2a.md §1",
     "no public code: our reconstruction; MiniLM-L6 teacher; the student keeps the embedding table"),
)


def claim_rows(rows: Sequence[Row], sizes: dict[str, int], teacher_key: str = "teacher") -> list[list[str]]:
    """One table row per :data:`CLAIMS` entry whose run exists: claim, provenance, what we measured, why."""
    have = {r.key: r for r in rows}
    t = have.get(teacher_key)
    out = []
    for key, ref, claim, prov, note, why in CLAIMS:
        r = have.get(key)
        if r is None:
            continue
        parts = []
        if t is not None and r.params and t.params:
            parts.append(f"{t.params / r.params:.1f}x fewer parameters than our teacher")
        if t is not None and r.ms32 and t.ms32:
            parts.append(f"{t.ms32 / r.ms32:.1f}x faster @32")
        if ref in have:
            parts.append(verdict(rows, key, ref, sizes).sentence("it", have[ref].label))
        out.append([r.label, claim, f"{prov} ({note})", "; ".join(parts) or "–", why])
    return out

"""Figures and widgets of notebook 03 (Meta-KD). Method note: ``docs/methods/meta_kd.md`` §9.

Static figures return a ``matplotlib.figure.Figure`` (no pyplot state; show with
``viz.common.show_static``). Widgets keep what they last drew in ``.current`` and the image they show
in ``.png`` (also in their ``Output``), so tests can set ``.value`` on a control and check the result
headlessly. Shapes: N rows, K domains, C classes, H width.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.scores import PrototypeScores
from hrkd_lite.methods.metakd.weights import expertise_weight_grid
from hrkd_lite.viz.common import ValueView
from hrkd_lite.viz.stats import score_histogram

MARKERS = "os^Dv<>p"


# ------------------------------------------------------------------ prototype scores

def pca_2d(x: np.ndarray, extra: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """2-D PCA of rows x (N, H); ``extra`` (M, H) is projected with the same axes. Returns (N, 2), (M, 2)."""
    mu = x.mean(0)
    _, _, vt = np.linalg.svd(x - mu, full_matrices=False)
    proj = vt[:2].T
    return (x - mu) @ proj, None if extra is None else (extra - mu) @ proj


def plot_pca_prototypes(ps: PrototypeScores, domains: Sequence[str], label_names: Sequence[str]) -> Figure:
    """h(x) in 2-D PCA (colour = domain, marker = class) with the K·C class-domain prototypes (stars)."""
    feats = ps.features.numpy()
    protos = ps.prototypes.numpy().reshape(-1, feats.shape[1])
    xy, pxy = pca_2d(feats, protos)
    fig = Figure(figsize=(6.5, 5), layout="constrained")
    ax = fig.subplots()
    dom, lab = ps.domains.numpy(), ps.labels.numpy()
    for k, name in enumerate(domains):
        for m, lname in enumerate(label_names):
            sel = (dom == k) & (lab == m)
            ax.scatter(xy[sel, 0], xy[sel, 1], s=12, alpha=0.45, color=f"C{k}", marker=MARKERS[m % len(MARKERS)],
                       label=f"{name} / {lname}")
    C = len(label_names)
    for i, (px, py) in enumerate(pxy):
        ax.scatter(px, py, s=260, marker="*", color=f"C{i // C}", edgecolor="black", linewidth=1.2, zorder=5)
        ax.annotate(label_names[i % C][:3], (px, py), fontsize=7, xytext=(4, 4), textcoords="offset points")
    ax.set_title(f"PCA of h(x) with {ps.mode}-wise prototypes (stars)", fontsize=10)
    ax.legend(fontsize=6, ncol=2)
    return fig


def plot_score_histograms(ps: PrototypeScores, domains: Sequence[str]) -> Figure:
    """Histogram of t_i per domain (24 shared bins) with its kernel density estimate; the black line
    marks the domain's mean score."""
    s = ps.scores.numpy()
    bins = np.linspace(s.min(), s.max(), 25)
    fig = Figure(figsize=(3.0 * len(domains), 2.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(domains), sharey=True))
    for k, (ax, name) in enumerate(zip(axes, domains)):
        vals = s[ps.domains.numpy() == k]
        score_histogram(ax, vals, bins=bins, color=f"C{k}", alpha=0.8)
        ax.axvline(vals.mean(), color="black", lw=1)
        ax.set_title(f"{name}: mean t = {vals.mean():.3f}", fontsize=9)
        ax.set_xlabel("prototype score t_i")
    return fig


def extreme_sentences(ps: PrototypeScores, texts: Sequence[Sequence[str]], domains: Sequence[str],
                      k: int = 5) -> dict[str, dict[str, list[tuple[float, str]]]]:
    """Per domain the ``k`` highest- and lowest-scoring training sentences: ``{dom: {"top", "bottom"}}``.

    ``texts[d]`` are domain d's rows in the order used for ``ps`` (the split's row order).
    """
    out = {}
    for d, name in enumerate(domains):
        s = ps.scores[ps.domains == d].numpy()
        if len(s) != len(texts[d]):
            raise HrkdError(f"{name}: {len(s)} scores but {len(texts[d])} texts")
        order = np.argsort(-s, kind="stable")
        out[name] = {"top": [(float(s[i]), texts[d][i]) for i in order[:k]],
                     "bottom": [(float(s[i]), texts[d][i]) for i in order[::-1][:k]]}
    return out


def format_extremes(ext: Mapping[str, Mapping[str, list[tuple[float, str]]]], width: int = 120) -> str:
    """Plain-text listing of :func:`extreme_sentences`."""
    lines = []
    for name, parts in ext.items():
        for which in ("top", "bottom"):
            lines.append(f"== {name}: {which} {len(parts[which])} by t_i")
            for score, text in parts[which]:
                lines.append(textwrap.shorten(f"  {score:+.3f}  {text}", width=width, placeholder=" ..."))
    return "\n".join(lines)


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    r = np.empty(len(x))
    r[order] = np.arange(len(x))
    for v in np.unique(x):  # average ranks for ties
        tie = x == v
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


def correlation_summary(x: np.ndarray, y: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Pearson r, Spearman ρ and a 95 % bootstrap interval of r for paired samples x, y (N,)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if len(x) != len(y) or len(x) < 3:
        raise HrkdError(f"need >= 3 paired values, got {len(x)} and {len(y)}")
    r = float(np.corrcoef(x, y)[0, 1])
    rho = float(np.corrcoef(_ranks(x), _ranks(y))[0, 1])
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    xb, yb = x[idx], y[idx]
    xc, yc = xb - xb.mean(1, keepdims=True), yb - yb.mean(1, keepdims=True)
    boot = (xc * yc).sum(1) / np.sqrt((xc**2).sum(1) * (yc**2).sum(1)).clip(1e-12)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return {"pearson": r, "spearman": rho, "ci_low": float(lo), "ci_high": float(hi), "n": int(len(x))}


def plot_score_vs_share(scores: np.ndarray, share: np.ndarray, domain_ids: np.ndarray, domains: Sequence[str],
                        summary: Mapping[str, float]) -> Figure:
    """Scatter of t_i against the generator's true share of transferable cues (evaluation only)."""
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    rng = np.random.default_rng(0)
    jitter = rng.uniform(-0.012, 0.012, size=len(share))  # shares are fractions like 1/3, 1/2
    for k, name in enumerate(domains):
        sel = domain_ids == k
        ax.scatter(share[sel] + jitter[sel], scores[sel], s=10, alpha=0.5, color=f"C{k}", label=name)
    ax.set_xlabel("true share of transferable cues (generator log, jittered)")
    ax.set_ylabel("prototype score t_i")
    ax.set_title(f"Pearson r = {summary['pearson']:.3f} [{summary['ci_low']:.3f}, {summary['ci_high']:.3f}], "
                 f"Spearman = {summary['spearman']:.3f}, n = {summary['n']}", fontsize=9)
    ax.legend(fontsize=7)
    return fig


# ------------------------------------------------------------------ teacher features and λ

def plot_probe(res: Mapping[str, float]) -> Figure:
    """Domain-probe accuracy per feature source, with the chance line."""
    names = [k for k in res if k != "chance"]
    fig = Figure(figsize=(6.5, 3), layout="constrained")
    ax = fig.subplots()
    ax.barh(names, [res[k] for k in names], color=[f"C{i}" for i in range(len(names))])
    ax.axvline(res["chance"], color="black", ls="--", label=f"chance {res['chance']:.2f}")
    for i, k in enumerate(names):
        ax.text(res[k], i, f" {res[k]:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("linear probe: domain accuracy on test rows (lower = more domain-invariant)")
    ax.legend(fontsize=8, loc="lower right")
    return fig


def plot_lambda_surface(points: Mapping[str, np.ndarray] | None = None, t_range: tuple[float, float] = (-0.2, 1.0)
                        ) -> Figure:
    """λ(p, t) = (1 + t)/(1 + exp((1 − p)²)) as filled contours; ``points`` (``p``, ``t``) overlaid."""
    if points is not None and len(points["t"]):
        t_range = (min(t_range[0], float(points["t"].min())), max(t_range[1], float(points["t"].max())))
    p, t, lam = (a.numpy() for a in expertise_weight_grid(101, t_range, 61))
    fig = Figure(figsize=(6, 4.2), layout="constrained")
    ax = fig.subplots()
    cs = ax.contourf(p, t, lam, levels=20, cmap="viridis")
    ax.contour(p, t, lam, levels=8, colors="white", linewidths=0.5)
    fig.colorbar(cs, ax=ax, label="λ_i")
    if points is not None:
        ax.scatter(points["p"], points["t"], s=9, color="red", alpha=0.6, label="training rows of the target")
        ax.legend(fontsize=8, loc="lower left")
    ax.set_xlabel("teacher probability of the gold label p_T(y|x)")
    ax.set_ylabel("prototype score t_i")
    ax.set_title("domain-expertise weight λ_i (docs/methods/meta_kd.md §4)", fontsize=10)
    return fig


# ------------------------------------------------------------------ accuracies

def plot_teacher_student_bars(grid: Mapping[str, Mapping[str, Any]], targets: Sequence[str]) -> Figure:
    """Per target domain: test accuracy of teachers single / mix / meta (solid) and their students (hatched)."""
    variants = list(grid)
    fig = Figure(figsize=(1.9 * len(targets) + 3, 4.4), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / (2 * len(variants))
    x = np.arange(len(targets))
    for j, v in enumerate(variants):
        for h, kind in enumerate(("teacher", "student")):
            pos = x - 0.4 + width * (2 * j + h + 0.5)
            vals = [grid[v][kind][d] for d in targets]
            ax.bar(pos, vals, width, color=f"C{j}", hatch="//" if kind == "student" else None,
                   alpha=0.55 if kind == "student" else 0.95, edgecolor="black", linewidth=0.4,
                   label=f"{kind} ({v})")
    ax.set_xticks(x, targets)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.1))
    title = "teachers and the students distilled from each (one student per target domain, one seed)"
    ax.set_title(textwrap.fill(title, width=int(10 * fig.get_figwidth())), fontsize=10)  # ~10 chars per inch
    return fig


def plot_metakd_few_shot(curve: Mapping[str, Mapping[float, float]], target: str,
                  teacher: Mapping[str, Mapping[float, float]] | None = None, chance: float | None = None,
                  seeds: int = 1) -> Figure:
    """Student test accuracy on ``target`` against the fraction of its training data, per teacher variant
    (solid), with each variant's teacher retrained on the same fraction (``teacher``, dashed) and the
    chance line 1/C (``chance``). ``seeds``: runs per point (the title says "one seed" when 1)."""
    fig = Figure(figsize=(5.4, 3.6), layout="constrained")
    ax = fig.subplots()
    for j, (v, pts) in enumerate(curve.items()):
        fr = sorted(pts)
        ax.plot(fr, [pts[f] for f in fr], marker="o", color=f"C{j}", label=f"student of {v}-teacher")
        if teacher is not None and v in teacher:
            tf = sorted(teacher[v])
            ax.plot(tf, [teacher[v][f] for f in tf], ls="--", marker="s", ms=4, color=f"C{j}", alpha=0.7,
                    label=f"{v}-teacher")
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label=f"chance ({chance:.2f})")
    ax.set_xscale("log")
    ax.set_xlabel(f"fraction of {target}'s training split (log scale)")
    ax.set_ylabel("test accuracy (fraction)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7)
    who = "one seed" if seeds == 1 else f"{seeds} seeds"
    ax.set_title(f"few-shot: target {target} ({who})", fontsize=10)
    return fig


def plot_zero_shot(res: Mapping[str, float], target: str) -> Figure:
    """Bars: meta-teacher with / without the target and the students distilled from each."""
    fig = Figure(figsize=(6.5, 3), layout="constrained")
    ax = fig.subplots()
    names = list(res)
    ax.barh(names, [res[n] for n in names], color=["C2", "C3", "C2", "C3"][: len(names)])
    for i, n in enumerate(names):
        ax.text(res[n], i, f" {res[n]:.3f}", va="center", fontsize=8)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel(f"test accuracy on {target} (fraction)")
    ax.set_title(f"zero-shot: meta-teacher trained without {target} (one seed)", fontsize=10)
    return fig


def effective_weights(lam: np.ndarray, mode: str) -> np.ndarray:
    """The weight each example's stage-1 loss effectively gets: λ_i (per instance) or mean(λ) (bug)."""
    return lam.copy() if mode == "per_instance" else np.full_like(lam, lam.mean())


def plot_weighting(lam: np.ndarray, toggle: Mapping[str, Mapping[str, float]], mode: str | None = None) -> Figure:
    """Left: effective per-example weights in one batch under both modes (or ``mode`` only).
    Right: student test accuracy per target under both modes."""
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    modes = [mode] if mode else ["per_instance", "batch_mean"]
    for j, m in enumerate(modes):
        ax.bar(np.arange(len(lam)) + 0.4 * j, effective_weights(lam, m), 0.4, label=m,
               color="C0" if m == "per_instance" else "C3")
    ax.set_xlabel("example in the batch")
    ax.set_ylabel("effective weight of its L_1 term")
    ax.legend(fontsize=8)
    targets = list(next(iter(toggle.values())))
    x = np.arange(len(targets))
    for j, m in enumerate(toggle):
        bx.bar(x + 0.4 * j - 0.2, [toggle[m][d] for d in targets], 0.4, label=m,
               color="C0" if m == "per_instance" else "C3", alpha=1.0 if (mode in (None, m)) else 0.3)
    bx.set_xticks(x, targets)
    bx.set_ylim(0, 1.05)
    bx.set_ylabel("student test accuracy")
    bx.legend(fontsize=8)
    return fig


def plot_tkd_sweep(sweep: Mapping[float, float], target: str, selected: float | None = None) -> Figure:
    """Student test accuracy on ``target`` against γ₂ (weight of L_TKD)."""
    fig = Figure(figsize=(5, 3.2), layout="constrained")
    ax = fig.subplots()
    w = sorted(sweep)
    ax.plot(w, [sweep[v] for v in w], marker="o")
    if selected is not None:
        ax.scatter([selected], [sweep[selected]], s=150, facecolor="none", edgecolor="red", linewidth=2)
    ax.set_xlabel("γ₂ (TKD feature-loss weight)")
    ax.set_ylabel(f"student test accuracy on {target}")
    ax.set_title("γ₂ sweep (one seed per γ₂)", fontsize=10)
    return fig


# ------------------------------------------------------------------ widgets

_Widget = ValueView  # one control; subclasses implement render_value(value)


class WeightingWidget(_Widget):
    """Toggle per-instance λ_i vs the batch-mean bug: effective weights of one batch, student accuracy."""

    def __init__(self, lam_batch: np.ndarray, toggle: Mapping[str, Mapping[str, float]]) -> None:
        import ipywidgets as w

        self.lam, self.toggle = np.asarray(lam_batch, float), toggle
        # buttons as wide as their labels (the default fixed width cuts them off)
        super().__init__(w.ToggleButtons(options=[("per-instance λ_i (authors)", "per_instance"),
                                                  ("batch mean (EasyNLP bug)", "batch_mean")],
                                         value="per_instance", style={"button_width": "auto"}))
        self.update()

    def render_value(self, value: str):
        eff = effective_weights(self.lam, value)
        cur = {"mode": value, "weights": eff, "spread": float(eff.max() - eff.min()),
               "accuracy": dict(self.toggle[value])}
        text = (f"{value}: weights range {eff.min():.3f}..{eff.max():.3f}; student test accuracy "
                + ", ".join(f"{d} {a:.3f}" for d, a in self.toggle[value].items()))
        return plot_weighting(self.lam, self.toggle, value), text, cur

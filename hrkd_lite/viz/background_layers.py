"""Notebook 00 views, intermediate-layer distillation: what TinyBERT, MiniLM and friends match, and where.

TinyBERT's attention-score / hidden-state terms and heatmaps, MiniLM's last-layer attention and
value-relation transfer, the layer-mapping explorer (``describe_maps``; the widget returns
``(widget, state)``), and the table of what each method transfers with the quantity each one would
minimise on one batch. Method note: ``docs/methods/background.md`` §6-§8.
Tags: [M] unverified memory (as in the map titles).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hrkd_lite.distill import (
    describe_maps,
    distilbert_cosine_loss,
    hinton_kd,
    indices_from_map,
    minilm_attention_kl,
    minilm_value_relation_kl,
    pkd_patience_loss,
    pkd_skip_map,
    soft_cross_entropy,
    tinybert_layer_losses,
    value_relation,
)
from hrkd_lite.models import BertEncoder
from hrkd_lite.viz.common import markdown_table, new_figure, render_into
from hrkd_lite.viz.stats import heatmap

# ---------------------------------------------------------------------------------------------------
# 5. TinyBERT attention-score / hidden-state matching, MiniLM value relations (docs/methods/background.md §6-§7)


@torch.no_grad()
def tinybert_terms(teacher_out, student_out, fit, layer_map: Sequence[int]) -> dict[str, float]:
    """TinyBERT's intermediate terms (``tinybert_layer_losses``) as floats: emb, attn_m, hid_m, total."""
    terms = tinybert_layer_losses(student_out, teacher_out, fit, indices_from_map(layer_map))
    out = {"emb": float(terms["emb"])}
    for m, (a, h) in enumerate(zip(terms["attn"], terms["hid"]), start=1):
        out[f"attn_{m}"], out[f"hid_{m}"] = float(a), float(h)
    out["total"] = sum(out.values())
    return out


@torch.no_grad()
def head_to_show(teacher_out, student_out, layer_map: Sequence[int], example: int = 0) -> int:
    """The head of the last student layer whose scores start furthest from the teacher's (masked → 0)."""
    from hrkd_lite.distill import zero_masked_scores

    s = zero_masked_scores(student_out.attention_scores[-1][example])
    t = zero_masked_scores(teacher_out.attention_scores[layer_map[-1] - 1][example])
    return int((s - t).pow(2).mean(dim=(-1, -2)).argmax())


def _crop(x: torch.Tensor, n: int) -> np.ndarray:
    return x[..., :n, :n].detach().float().cpu().numpy()


def plot_attention_maps(teacher_out, students: dict[str, Any], layer_map: Sequence[int], example: int,
                        head: int, tokens: Sequence[str], max_tokens: int = 20):
    """Rows: student layer m; columns: teacher layer g(m) scores, then each student's layer-m scores.
    Pre-softmax scores (what TinyBERT's L_attn compares), real tokens only, one colour scale per row
    (2nd..98th percentile of the teacher's scores; its colour bar ends the row). Seaborn heatmaps; cells
    are annotated when at most 10 tokens are shown."""
    n = min(len(tokens), max_tokens)
    M = len(layer_map) - 1
    cols = 1 + len(students)
    fig, axes = new_figure(M, cols, figsize=(3.1 * cols, 3.0 * M), squeeze=False)
    for m in range(1, M + 1):
        t = _crop(teacher_out.attention_scores[layer_map[m] - 1][example, head], n)
        lo, hi = np.percentile(t, 2), np.percentile(t, 98)
        panels = [(f"teacher layer {layer_map[m]}", t)]
        panels += [(f"{k}: layer {m}", _crop(o.attention_scores[m - 1][example, head], n)) for k, o in students.items()]
        for j, (title, arr) in enumerate(panels):
            ax = axes[m - 1, j]
            mse = "" if j == 0 else f"\nMSE to teacher {np.mean((arr - t) ** 2):.2f}"
            heatmap(ax, arr, tokens[:n], tokens[:n], vmin=lo, vmax=hi, cbar=j == cols - 1, fmt=".1f", fontsize=5)
            ax.set_title(title + mse, fontsize=8)
            ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    fig.suptitle(f"pre-softmax attention scores, head {head} (queries = rows, keys = columns)", fontsize=9)
    return fig


def plot_hidden_terms(before: dict[str, float], after: dict[str, float]):
    """Bars of each TinyBERT term (emb, attn_m, hid_m) before vs after distillation."""
    keys = [k for k in before if k != "total"]
    fig, ax = new_figure(figsize=(8, 3.4))
    x = np.arange(len(keys))
    ax.bar(x - 0.2, [before[k] for k in keys], 0.4, label=f"before (total {before['total']:.2f})")
    ax.bar(x + 0.2, [after[k] for k in keys], 0.4, label=f"after (total {after['total']:.2f})")
    ax.set_xticks(x, keys)
    ax.set_ylabel("MSE (dev batch)")
    ax.set_yscale("log")
    ax.set_title("TinyBERT terms: embeddings / attention scores / hidden states (through W_h)")
    ax.legend(fontsize=8)
    return fig


@torch.no_grad()
def plot_value_relations(teacher: BertEncoder, students: dict[str, BertEncoder], batch: dict, example: int,
                         head: int, tokens: Sequence[str], max_tokens: int = 20):
    """MiniLM value relations softmax(V Vᵀ/√d) of the last layer: teacher vs each student, one head.
    Seaborn heatmaps on the teacher's 0..max scale, one colour bar after the last panel."""
    n = min(len(tokens), max_tokens)
    mask = batch["attention_mask"]
    models = {"teacher (last layer)": teacher, **{f"{k} (last layer)": v for k, v in students.items()}}
    fig, axes = new_figure(1, len(models), figsize=(3.2 * len(models), 3.4))
    ref = None
    for ax, (name, model) in zip(np.atleast_1d(axes), models.items()):
        vr = _crop(value_relation(model(batch["input_ids"], mask).values[-1], mask)[example, head], n)
        ref = vr if ref is None else ref
        extra = "" if vr is ref else f"\nmean |Δ| to teacher {np.abs(vr - ref).mean():.4f}"
        heatmap(ax, vr, tokens[:n], tokens[:n], vmin=0, vmax=float(ref.max()), cmap="magma",
                cbar=name == list(models)[-1], fontsize=5)
        ax.set_title(name + extra, fontsize=8)
        ax.tick_params(axis="x", labelrotation=90, labelsize=6)
    fig.suptitle(f"MiniLM value relations, head {head}", fontsize=9)
    return fig


# ---------------------------------------------------------------------------------------------------
# 6. Layer-mapping explorer (distill.layer_maps.describe_maps)

MAP_TITLES = {"pkd_skip": "PKD-skip [M]", "pkd_last": "PKD-last [M]", "tinybert": "TinyBERT uniform m·L/M",
              "adabert": "AdaBERT ⌈i·J/K⌉", "minilm": "MiniLM last layer"}


def plot_layer_maps(teacher_layers: int, student_layers: int):
    """One panel per map: student layers (left) receive arrows from teacher layers (right); 0 = embeddings."""
    maps = describe_maps(teacher_layers, student_layers)
    L, M = teacher_layers, student_layers
    fig, axes = new_figure(1, len(MAP_TITLES), figsize=(2.6 * len(MAP_TITLES), 0.28 * L + 2.4))
    for ax, (key, title) in zip(axes, MAP_TITLES.items()):
        pairs = maps[key]
        used_t, used_s = {t for _, t in pairs}, {s for s, _ in pairs}
        for i in range(L + 1):
            ax.plot(1, i / L, "o", color="C3" if i in used_t else "lightgray", ms=5)
            ax.text(1.08, i / L, "emb" if i == 0 else f"T{i}", va="center", fontsize=7)
        for j in range(M + 1):
            ax.plot(0, j / M, "o", color="C0" if j in used_s else "lightgray", ms=5)
            ax.text(-0.08, j / M, "emb" if j == 0 else f"S{j}", va="center", ha="right", fontsize=7)
        for s, t in pairs:
            ax.annotate("", xy=(0.03, s / M), xytext=(0.97, t / L),
                        arrowprops={"arrowstyle": "->", "color": "C2", "lw": 1.2})
        ax.set_title(f"{title}\n{len(pairs)} pair(s)" if pairs else f"{title}\nno intermediate pairs", fontsize=8)
        ax.set_xlim(-0.45, 1.45)
        ax.set_ylim(-0.08, 1.08)
        ax.axis("off")
    fig.suptitle(f"teacher L = {L} → student M = {M} (arrows: which teacher layer each student layer learns from)",
                 fontsize=9)
    return fig


def layer_map_widget(teacher_layers: int = 12, student_layers: int = 4, max_layers: int = 24):
    """Teacher-depth and student-depth sliders redrawing every map. Returns ``(widget, state)``;
    ``state["maps"]`` is ``describe_maps(L, M)``, ``state["fig"]`` the drawing."""
    import ipywidgets as w

    controls = {"teacher": w.IntSlider(value=teacher_layers, min=1, max=max_layers, description="teacher L"),
                "student": w.IntSlider(value=student_layers, min=1, max=teacher_layers, description="student M")}
    out = w.Output()
    state: dict[str, Any] = {"controls": controls, "updates": 0}

    def update(_change=None):
        L = controls["teacher"].value
        controls["student"].max = L  # clamps M to L (its observer redraws too; harmless)
        M = controls["student"].value
        state.update(L=L, M=M, maps=describe_maps(L, M))
        state["fig"] = plot_layer_maps(L, M)
        state["updates"] += 1
        state["png"] = render_into(out, state["fig"])

    for c in controls.values():
        c.observe(update, names="value")
    update()
    return w.VBox([w.HBox([controls["teacher"], controls["student"]]), out]), state


# ---------------------------------------------------------------------------------------------------
# 7. What each method transfers (docs/methods/background.md §8) and the quantity each one compares, measured here

TRANSFER_HEADER = ["method", "logits", "hidden", "attention", "embeddings", "other", "task-specific",
                   "in hrkd_lite"]
TRANSFER_ROWS = [
    ["Hinton KD", "soft CE/KL", "–", "–", "–", "–", "yes", "`hinton_kd`"],
    ["DistilBERT", "KL over MLM vocab", "cosine, last layer", "–", "init from teacher", "MLM loss", "no",
     "`distilbert_cosine_loss`, `truncate_encoder`"],
    ["BERT-PKD", "KL", "normalised [CLS], skip/last", "–", "–", "–", "yes",
     "`pkd_patience_loss`, `pkd_skip_map`/`pkd_last_map`"],
    ["TinyBERT", "soft CE", "MSE + W_h, uniform map", "MSE on scores", "MSE + W_e", "2 stages + DA", "both",
     "`tinybert_layer_losses`, `soft_cross_entropy`, `FitDenses`"],
    ["MiniLM", "–", "–", "KL, last layer", "–", "value-relation KL", "no",
     "`minilm_attention_kl`, `minilm_value_relation_kl`"],
    ["AdaBERT", "KL (final)", "probe logits per layer", "–", "factorised BERT emb.", "NAS + efficiency loss",
     "yes", "`adabert_map` (notebook 01)"],
    ["Meta-KD", "soft CE", "MSE", "MSE", "MSE", "domain-corrupted feature MSE, instance weights",
     "yes, cross-domain", "`hrkd_lite.methods.metakd` (notebook 03)"],
    ["HRKD", "soft CE", "MSE, per-layer W_h", "MSE on scores", "MSE", "graph weights per layer × domain",
     "yes, multi-domain", "`hrkd_lite.methods.hrkd` (notebook 04)"],
]


def transfer_table_markdown() -> str:
    """docs/methods/background.md §8 as Markdown, with the package functions that implement each row."""
    return markdown_table(TRANSFER_HEADER, TRANSFER_ROWS)


@torch.no_grad()
def transfer_losses(teacher_out, student_out, attention_mask: torch.Tensor, layer_map: Sequence[int],
                    fit=None, temperature: float = 2.0) -> dict[str, float]:
    """The quantity each method would minimise between this teacher and student on one batch.

    Keys: hinton_kd (T²·KL), pkd_patience (skip map, [CLS]), distilbert_cosine (last layer; NaN when the
    widths differ: DistilBERT has no projection), tinybert_intermediate (sum of terms), tinybert_pred
    (soft CE), minilm_attention, minilm_value_relation (last layers).
    """
    L, M = len(teacher_out.hidden_states) - 1, len(student_out.hidden_states) - 1
    skip = pkd_skip_map(L, M)
    out = {"hinton_kd": float(hinton_kd(student_out.logits, teacher_out.logits, None, temperature=temperature))}
    if skip:
        s_hid, t_hid = student_out.hidden_states, teacher_out.hidden_states
        same = s_hid[1].shape[-1] == t_hid[skip[0]].shape[-1]
        out["pkd_patience"] = float(pkd_patience_loss(s_hid, t_hid, skip)) if same else float("nan")
    else:
        out["pkd_patience"] = float("nan")
    s_last, t_last = student_out.hidden_states[-1], teacher_out.hidden_states[-1]
    out["distilbert_cosine"] = (float(distilbert_cosine_loss(s_last, t_last, attention_mask))
                                if s_last.shape == t_last.shape else float("nan"))
    out["tinybert_intermediate"] = tinybert_terms(teacher_out, student_out, fit, layer_map)["total"]
    out["tinybert_pred"] = float(soft_cross_entropy(student_out.logits, teacher_out.logits))
    out["minilm_attention"] = float(minilm_attention_kl(student_out.attention_scores[-1],
                                                        teacher_out.attention_scores[-1], attention_mask))
    out["minilm_value_relation"] = float(minilm_value_relation_kl(student_out.values[-1], teacher_out.values[-1],
                                                                  attention_mask))
    return out

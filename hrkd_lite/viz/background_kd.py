"""Notebook 00 views, output distillation: soft targets, the T² argument, and a real KD run.

Soft targets softmax(z/T), their entropy, Hinton KD's two weighted terms and why the T² factor keeps the
gradient scale (high T → logit matching); the T/α explorer widget returns ``(widget, state)`` where
``state`` is a dict the callback rewrites so tests can move a slider and check what changed. Then the
training curves, accuracy table and a noise-aware verdict on the KD gain of the teacher /
student-without-KD / Hinton KD / TinyBERT-style KD runs (trained by ``experiments.nb00``).
Method note: ``docs/methods/background.md`` §3 (Hinton KD, T²).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from hrkd_lite.distill import hinton_kd
from hrkd_lite.noise import compare
from hrkd_lite.viz.common import new_figure, render_into

# ---------------------------------------------------------------------------------------------------
# 3. Soft targets and the T² argument (docs/methods/background.md §3)

def entropy(p: torch.Tensor) -> torch.Tensor:
    """Shannon entropy in nats over the last dim: (..., C) -> (...)."""
    return -(p * p.clamp_min(1e-30).log()).sum(-1)


def soft_targets(logits: torch.Tensor, temps: Sequence[float]) -> dict[str, Any]:
    """softmax(z/T) for each T: ``probs`` (len T, N, C) and ``entropy`` (len T, N) as numpy arrays."""
    z = logits.detach().float()
    probs = torch.stack([F.softmax(z / t, dim=-1) for t in temps])
    return {"T": list(temps), "probs": probs.numpy(), "entropy": entropy(probs).numpy()}


def pick_examples(logits: torch.Tensor, k: int = 3) -> list[int]:
    """``k`` examples spread over the teacher's confidence: most confident first, least confident last."""
    z = logits.detach().float()
    margin = (z.max(-1).values - z.min(-1).values).numpy()
    order = np.argsort(-margin)
    return [int(order[round(j * (len(order) - 1) / max(k - 1, 1))]) for j in range(k)]


def kd_loss_parts(student_logits: torch.Tensor, teacher_logits: torch.Tensor, labels: torch.Tensor,
                  temperature: float, alpha: float) -> dict[str, float]:
    """Hinton KD split in its two weighted terms: (1-α)·CE and α·T²·KL (``hinton_kd``), and their sum."""
    s, t = student_logits.detach().float(), teacher_logits.detach().float()
    ce = float(F.cross_entropy(s, labels))
    kd = float(hinton_kd(s, t, None, temperature=temperature))
    total = float(hinton_kd(s, t, labels, temperature=temperature, alpha=alpha))
    return {"ce": (1 - alpha) * ce, "kd": alpha * kd, "total": total, "T": temperature, "alpha": alpha}


def t2_gradient_table(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temps: Sequence[float]) -> dict[str, list[float]]:
    """Gradient of the distillation term w.r.t. the student logits, with and without T².

    ∂[T²·KL]/∂z_s = T·(p_s - p_t)/B; as T → ∞ it tends to the logit-matching gradient (Δ - mean Δ)/(C·B),
    Δ = z_s - z_t, and T²·KL tends to Σ_c (Δ_c - mean Δ)²/(2C) (batch mean). Ratios → 1 show both; the
    relative gap shrinks like |z|/T.
    """
    s0, t = student_logits.detach().double(), teacher_logits.detach().double()  # float64: KL is tiny at high T
    B, C = s0.shape
    delta = s0 - t
    centered = delta - delta.mean(-1, keepdim=True)
    limit_grad = float((centered / (C * B)).norm())
    limit_loss = float((centered.pow(2).sum(-1) / (2 * C)).mean())
    out: dict[str, list[float]] = {"T": list(temps), "grad_t2": [], "grad_plain": [], "loss_t2": [],
                                   "grad_ratio_to_limit": [], "loss_ratio_to_limit": []}
    for temp in temps:
        for t2 in (True, False):
            s = s0.clone().requires_grad_(True)
            loss = hinton_kd(s, t, None, temperature=temp, t2=t2)
            (g,) = torch.autograd.grad(loss, s)
            out["grad_t2" if t2 else "grad_plain"].append(float(g.norm()))
            if t2:
                out["loss_t2"].append(float(loss.detach()))
        out["grad_ratio_to_limit"].append(out["grad_t2"][-1] / limit_grad)
        out["loss_ratio_to_limit"].append(out["loss_t2"][-1] / limit_loss)
    out["limit_grad"], out["limit_loss"] = [limit_grad], [limit_loss]
    return out


def plot_soft_targets(teacher_logits: torch.Tensor, examples: Sequence[int], temps: Sequence[float],
                      label_names: Sequence[str], texts: Sequence[str] | None = None):
    """For a few examples: bars of softmax(z/T) at each T (entropy in the legend); right: entropy vs T."""
    st = soft_targets(teacher_logits, temps)
    C = st["probs"].shape[-1]
    fig, axes = new_figure(1, len(examples) + 1, figsize=(3.3 * (len(examples) + 1), 3.6))
    w = 0.8 / len(temps)
    for ax, i in zip(axes, examples):
        for j, temp in enumerate(temps):
            ax.bar(np.arange(C) + j * w, st["probs"][j, i], w, label=f"T={temp:g}: H={st['entropy'][j, i]:.3f}")
        ax.set_xticks(np.arange(C) + w * (len(temps) - 1) / 2, list(label_names), fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(f"example {i}" + (f": {texts[i][:28]}…" if texts else ""), fontsize=8)
        ax.legend(fontsize=7)
    grid = np.geomspace(0.5, 20, 40)
    ent = soft_targets(teacher_logits, grid)["entropy"]
    ax = axes[-1]
    ax.plot(grid, ent.mean(1), "k-", label="mean over examples")
    for i in examples:
        ax.plot(grid, ent[:, i], "--", label=f"example {i}")
    ax.axhline(math.log(C), color="gray", lw=0.8, ls=":", label=f"ln {C} (uniform)")
    ax.set_xscale("log")
    ax.set_xlabel("temperature T")
    ax.set_ylabel("entropy of softmax(z/T) (nats)")
    ax.legend(fontsize=7)
    return fig


def plot_t2(table: dict[str, list[float]]):
    """Left: gradient norm vs T with/without T² and the logit-matching limit; right: ratios → 1."""
    fig, (a, b) = new_figure(1, 2, figsize=(11, 3.8))
    a.loglog(table["T"], table["grad_t2"], "o-", label="with T² (Hinton)")
    a.loglog(table["T"], table["grad_plain"], "s-", label="without T²")
    a.axhline(table["limit_grad"][0], color="gray", ls=":", label="logit-matching limit")
    a.set_xlabel("T")
    a.set_ylabel("‖∂ loss / ∂ student logits‖")
    a.set_title("T² keeps the gradient scale")
    a.legend(fontsize=8)
    b.semilogx(table["T"], table["grad_ratio_to_limit"], "o-", label="gradient / limit")
    b.semilogx(table["T"], table["loss_ratio_to_limit"], "s-", label="T²·KL / centred logit MSE/2")
    b.axhline(1.0, color="gray", ls=":")
    b.set_xlabel("T")
    b.set_title("high T: distillation → logit matching")
    b.legend(fontsize=8)
    return fig


def soft_target_figure(state: dict[str, Any], label_names: Sequence[str]):
    i, temp = state["index"], state["T"]
    fig, (a, b) = new_figure(1, 2, figsize=(10, 3.6))
    C = len(label_names)
    x = np.arange(C)
    a.bar(x - 0.27, state["p_teacher_T1"], 0.27, color="lightgray", label="teacher, T=1")
    a.bar(x, state["p_teacher"], 0.27, label=f"teacher, T={temp:g}")
    a.bar(x + 0.27, state["p_student"], 0.27, hatch="//", color="none", edgecolor="C1", label=f"student, T={temp:g}")
    a.set_xticks(x, list(label_names))
    a.set_ylim(0, 1)
    p = state["parts"]
    a.set_title(f"ex {i} (gold {label_names[state['label']]}): (1-α)CE={p['ce']:.3f} + α·T²KL={p['kd']:.3f}",
                fontsize=8)
    a.legend(fontsize=7)
    b.plot(state["grid_T"], state["grid_entropy"], "k-", label=f"example {i}")
    b.plot(state["grid_T"], state["grid_mean_entropy"], "k:", label="mean over examples")
    b.axvline(temp, color="C0")
    b.set_xscale("log")
    b.set_xlabel("T")
    b.set_ylabel("teacher entropy (nats)")
    b.set_title(f"H = {state['entropy']:.3f} nats at T = {temp:g}")
    b.legend(fontsize=7)
    return fig


def soft_target_widget(teacher_logits: torch.Tensor, student_logits: torch.Tensor, labels: torch.Tensor,
                       label_names: Sequence[str], texts: Sequence[str] | None = None, temperature: float = 2.0,
                       alpha: float = 0.5):
    """T and α sliders plus an example dropdown over real logits. Returns ``(widget, state)``.

    ``state``: T, alpha, index, p_teacher, p_teacher_T1, p_student, entropy (chosen example, nats),
    mean_entropy (all examples), parts (``kd_loss_parts`` over all examples), fig, controls.
    """
    import ipywidgets as w

    t_logits, s_logits = teacher_logits.detach().float(), student_logits.detach().float()
    n = t_logits.shape[0]
    opts = [(f"{i}: {label_names[int(labels[i])]} | {(texts[i] if texts else '')[:40]}", i) for i in range(n)]
    controls = {"T": w.FloatSlider(value=temperature, min=0.5, max=20.0, step=0.5, description="T"),
                "alpha": w.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="α"),
                "index": w.Dropdown(options=opts, value=0, description="example")}
    out = w.Output()
    grid = np.geomspace(0.5, 20, 40)
    grid_ent = soft_targets(t_logits, grid)["entropy"]
    state: dict[str, Any] = {"controls": controls, "grid_T": grid, "grid_mean_entropy": grid_ent.mean(1),
                             "updates": 0}

    def update(_change=None):
        temp, a, i = controls["T"].value, controls["alpha"].value, controls["index"].value
        p_t = F.softmax(t_logits / temp, dim=-1)
        state.update(T=temp, alpha=a, index=i, label=int(labels[i]), p_teacher=p_t[i].numpy(),
                     p_teacher_T1=F.softmax(t_logits[i], -1).numpy(),
                     p_student=F.softmax(s_logits[i] / temp, -1).numpy(), entropy=float(entropy(p_t[i])),
                     mean_entropy=float(entropy(p_t).mean()), grid_entropy=grid_ent[:, i],
                     parts=kd_loss_parts(s_logits, t_logits, labels, temp, a))
        state["fig"] = soft_target_figure(state, label_names)
        state["updates"] += 1
        state["png"] = render_into(out, state["fig"])

    for c in controls.values():
        c.observe(update, names="value")
    update()
    return w.VBox([w.HBox([controls["T"], controls["alpha"]]), controls["index"], out]), state


# ---------------------------------------------------------------------------------------------------
# 4. A real KD run: student without KD vs Hinton KD vs TinyBERT-style KD (runs: experiments.nb00)

METHODS = ("student", "kd", "tinybert")


def read_histories(folder: str | Path) -> dict[str, dict]:
    """Every ``history.json`` under ``folder``, keyed by its sub-path (e.g. ``"kd/books"``)."""
    import json

    root = Path(folder)
    return {str(p.parent.relative_to(root)): json.loads(p.read_text())
            for p in sorted(root.rglob("history.json"))}


def plot_training_curves(result: dict[str, Any]):
    """Per method (teacher + the three students, first seed): training loss per step (one line per
    trained model) and dev accuracy at each evaluation."""
    first = result["seeds"][0]
    folders = {"teacher": result["out_dir"] / "teacher",
               **{m: result["out_dir"] / f"seed{first}" / m for m in METHODS}}
    fig, axes = new_figure(2, len(folders), figsize=(3.4 * len(folders), 5.6), squeeze=False)
    for j, (name, folder) in enumerate(folders.items()):
        last = 1
        for key, hist in read_histories(folder).items():
            steps = [h["step"] for h in hist["history"]]
            last = max([last, *steps])
            axes[0, j].plot(steps, [h["loss"] for h in hist["history"]], lw=1, label=key.split("/")[-1])
            domains = sorted({d for e in hist["evals"] for d in e["scores"] if d != "average"})
            for dom in domains:
                axes[1, j].plot([e["step"] for e in hist["evals"]], [e["scores"][dom] for e in hist["evals"]],
                                "o-", ms=3, lw=1, label=dom)
        axes[0, j].set_title(f"{name}: training loss", fontsize=9)
        axes[1, j].set_title(f"{name}: dev accuracy", fontsize=9)
        axes[1, j].set_xlabel("step")
        axes[1, j].set_ylim(0, 1)
        axes[1, j].axhline(0.5, color="gray", lw=0.6, ls=":")
        for row in (0, 1):
            axes[row, j].set_xlim(0, last + 1)
            axes[row, j].legend(fontsize=6)
    return fig


def accuracy_rows(result: dict[str, Any], split: str = "test") -> tuple[list[str], list[list[str]]]:
    """Header and rows: per-domain accuracy (%, mean over seeds), average ± std over seeds, params,
    measured ms per batch of 32 and speed-up vs the teacher (from the runs' metrics.json)."""
    teacher = result["teacher"]
    domains = [d for d in teacher["accuracy"][split] if d != "average"]
    t32 = teacher["latency_ms"]["batch32"]
    header = ["method", *domains, "average", "± std (seeds)", "params (M)", "ms @32", "speed-up @32"]
    rows = []
    for name, runs in [("teacher", [teacher]), *[(m, result["runs"][m]) for m in METHODS]]:
        acc = [[r["accuracy"][split][d] for d in [*domains, "average"]] for r in runs]
        mean, std = np.mean(acc, 0), np.std([a[-1] for a in acc])
        lat = float(np.median([r["latency_ms"]["batch32"] for r in runs]))
        rows.append([name, *[f"{100 * v:.1f}" for v in mean], f"{100 * std:.1f}" if len(runs) > 1 else "-",
                     f"{runs[0]['params']['total'] / 1e6:.2f}", f"{lat:.1f}", f"{t32 / lat:.2f}x"])
    return header, rows


def kd_gain_summary(result: dict[str, Any], method: str = "kd", split: str = "test") -> dict[str, Any]:
    """Is ``method`` better than the student without KD, beyond noise?

    The package's noise rule (:func:`hrkd_lite.noise.compare`, paired over seeds): noise = max(binomial
    standard error of the difference of the two average accuracies, standard error over seeds of the
    paired differences); a difference counts when it exceeds 2·noise. One seed is reported as one seed.
    """
    base, other = result["runs"]["student"], result["runs"][method]
    a = [o["accuracy"][split]["average"] for o in other]
    b = [r["accuracy"][split]["average"] for r in base]
    ctx = result["ctx"]
    sizes = [ctx.encoded.size(d, split) for d in range(len(ctx.domains))]
    c = compare(a, b, sizes, paired=True)
    word = {"better": "better than no-KD beyond noise", "worse": "worse than no-KD beyond noise"}
    verdict = c.verdict if c.seeds < 2 else word.get(c.verdict, c.verdict)
    return {"method": method, "gain": c.diff, "diffs": [x - y for x, y in zip(a, b)], "seeds": c.seeds,
            "se_binomial": c.se_test, "se_seeds": c.se_seeds, "noise": c.noise, "within_noise": not c.beyond,
            "verdict": verdict}

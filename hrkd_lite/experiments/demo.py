"""``make demo``: a teacher and the three baselines on one dataset, one table, one figure.

Every number is measured in this run: per-domain test accuracy (each domain's best-dev checkpoint),
parameters counted from the models, median CPU/GPU latency at batch 1 and 32, and the speed-up
teacher-latency / student-latency.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from hrkd_lite.data import MultiDomainData
from hrkd_lite.methods.baselines.runner import run_kd, run_student, run_teacher, run_tinybert
from hrkd_lite.methods.shared.context import RunContext, prepare
from hrkd_lite.profiles import Profile
from hrkd_lite.utils import atomic_write_bytes


def _sub(ctx: RunContext, name: str) -> RunContext:
    out = ctx.out_dir / name
    out.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(ctx, out_dir=out)


def demo_table(runs: list[dict], split: str = "test") -> str:
    """Markdown table: per-domain accuracy, average, parameters, latency at batch 1/32, speed-up."""
    domains = [d for d in runs[0]["accuracy"][split] if d != "average"]
    t1 = runs[0]["latency_ms"]["batch1"]
    t32 = runs[0]["latency_ms"]["batch32"]
    head = ["method", *domains, "average", "params (M)", "ms @1", "ms @32", "speed-up @32"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        acc, lat = r["accuracy"][split], r["latency_ms"]
        cells = [r["method"] + (f" ({r['setting']})" if "setting" in r else "")]
        cells += [f"{100 * acc[d]:.1f}" for d in domains] + [f"{100 * acc['average']:.1f}"]
        cells += [f"{r['params']['total'] / 1e6:.2f}", f"{lat['batch1']:.1f}", f"{lat['batch32']:.1f}",
                  f"{t32 / lat['batch32']:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    dev = runs[0]["latency_ms"]["device"]
    lines.append(f"\nTest accuracy (%), each domain's best-dev checkpoint; latency = median forward time, "
                 f"measured here on {dev}, seq {runs[0]['latency_ms']['seq_len']} (teacher @1: {t1:.1f} ms). "
                 "The students share one architecture, so the spread of their latencies is the measurement's "
                 "noise on this machine.")
    return "\n".join(lines)


def demo_figure(runs: list[dict], path: Path, split: str = "test") -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    import numpy as np

    domains = [d for d in runs[0]["accuracy"][split] if d != "average"] + ["average"]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    w = 0.8 / len(runs)
    x = np.arange(len(domains))
    for i, r in enumerate(runs):
        ax.bar(x + i * w, [100 * r["accuracy"][split][d] for d in domains], w, label=r["method"])
    ax.set_xticks(x + w * (len(runs) - 1) / 2, domains)
    ax.set_ylabel(f"{split} accuracy (%)")
    lo = min(100 * r["accuracy"][split][d] for r in runs for d in domains)
    ax.set_ylim(max(0, lo - 10), 100)
    ax.legend(fontsize=8, ncol=2)
    ax.set_title("per-domain accuracy (measured)")
    ax2.bar([r["method"] for r in runs], [r["latency_ms"]["batch32"] for r in runs], color="gray")
    ax2.set_ylabel("ms per batch of 32 (median)")
    ax2.set_title(f"latency on {runs[0]['latency_ms']['device']}")
    ax2.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(profile: Profile, data: MultiDomainData, seed: int, out_dir: Path, figures_dir: Path,
             progress: bool = True) -> list[dict]:
    """Teacher (multi-task), student (no KD), Hinton KD, TinyBERT KD; prints and writes the table + figure."""
    ctx = prepare(profile, data, seed=seed, out_dir=out_dir, progress=progress)
    print(data.describe())
    teacher = run_teacher(_sub(ctx, "teacher"))
    tdir = teacher["teacher_dir"]
    runs = [teacher, run_student(_sub(ctx, "student")), run_kd(_sub(ctx, "kd"), teacher_dir=tdir),
            run_tinybert(_sub(ctx, "tinybert"), teacher_dir=tdir)]
    table = demo_table(runs)
    print(table)
    figures_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(figures_dir / "demo_table.md", (table + "\n").encode())
    demo_figure(runs, figures_dir / "demo_accuracy.png")
    print(f"wrote {figures_dir / 'demo_table.md'} and {figures_dir / 'demo_accuracy.png'}")
    return runs

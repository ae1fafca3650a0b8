"""An ESTIMATE of how long each ``run`` method takes on a Colab T4 with the ``gpu`` profile (no GPU measured).

    python benchmarks/t4_estimate.py [--tflops 20] [--out runs/bench/t4_estimate.json]

Step costs are measured, not guessed: torch's ``FlopCounterMode`` counts the floating-point operations of
one real forward (+ backward) of this package's models at the gpu profile's shapes (bert-base-uncased
teacher, TinyBERT-4L student, 32 examples per domain, 128 tokens), run on the ``meta`` device (shapes only,
no weights, no download). Step counts come from the profile (epochs, batch, eval_every) and the Amazon
split's sizes (HRKD's counts, 4 domains). Time = FLOPs / an ASSUMED sustained rate: 20 TFLOP/s by default,
about 30 % of the 65 TFLOP/s fp16 tensor-core peak that NVIDIA lists for the T4 (a figure quoted from
memory, not checked here). Data loading, Python overhead and latency measurements are left out, so real
runs will be slower; treat the numbers as the order of magnitude a class can plan with.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hrkd_lite.data.amazon import HRKD_SPLIT  # noqa: E402
from hrkd_lite.distill import FitDenses  # noqa: E402
from hrkd_lite.models.bert import PRESETS, BertEncoder  # noqa: E402
from hrkd_lite.models.classifier import MultiDomainClassifier  # noqa: E402
from hrkd_lite.profiles import get_profile  # noqa: E402


def flops(model: MultiDomainClassifier, batch: int, seq: int, backward: bool, fit: FitDenses | None = None) -> int:
    """FLOPs of one forward (+ backward) of ``model`` on (batch, seq) tokens, counted on the meta device."""
    with torch.device("meta"):
        ids = torch.zeros(batch, seq, dtype=torch.long)
        mask = torch.ones(batch, seq, dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        out = model(ids, mask, domain=0)
        loss = out.logits.sum()
        if fit is not None:  # TinyBERT-style projections of every student layer to the teacher's width
            loss = loss + sum(fit[m](h).sum() for m, h in enumerate(out.hidden_states))
        if backward:
            loss.backward()
    return counter.get_total_flops()


def estimate(tflops: float) -> dict:
    prof = get_profile("gpu")
    B, T, D = prof.batch_size, prof.max_len, len(HRKD_SPLIT)
    with torch.device("meta"):
        teacher = MultiDomainClassifier(BertEncoder(PRESETS["bert-base"]), 2, D)
        student = MultiDomainClassifier(BertEncoder(PRESETS["tinybert-4l"]), 2, D)
        fit = FitDenses(PRESETS["tinybert-4l"].hidden_size, PRESETS["bert-base"].hidden_size,
                        PRESETS["tinybert-4l"].num_layers + 1)
    cost = {  # FLOPs of one optimiser step on one domain batch (B sequences), and of one eval example
        "teacher_step": flops(teacher, B, T, True),
        "student_step": flops(student, B, T, True),
        "kd_step": flops(teacher, B, T, False) + flops(student, B, T, True, fit),
        "teacher_eval": flops(teacher, 1, T, False),
        "student_eval": flops(student, 1, T, False),
    }
    train = {d: c[0] for d, c in HRKD_SPLIT.items()}
    dev, test = sum(c[1] for c in HRKD_SPLIT.values()), sum(c[2] for c in HRKD_SPLIT.values())
    spe_multi = math.ceil(max(train.values()) / B)  # multi-domain sampler: the largest domain sets the epoch
    spe_single = {d: math.ceil(n / B) for d, n in train.items()}

    def evals(steps: int, epochs: int) -> int:
        return steps // prof.eval_every + epochs

    runs: dict[str, dict] = {}

    def add(name: str, steps: int, batches_per_step: int, step_cost: str, n_evals: int, eval_cost: str,
            examples_per_eval: int) -> None:
        total = steps * batches_per_step * cost[step_cost] + (n_evals * examples_per_eval + test) * cost[eval_cost]
        runs[name] = {"optimiser steps": steps, "sequences per step": batches_per_step * B,
                      "TFLOP": total / 1e12, "minutes on a T4 (estimate)": total / (tflops * 1e12) / 60}

    t_steps = prof.teacher_epochs * spe_multi
    s_steps = prof.student_epochs * spe_multi
    add("teacher / multi-teacher (4 domains, shared encoder)", t_steps, D, "teacher_step",
        evals(t_steps, prof.teacher_epochs), "teacher_eval", dev)
    add("student (no KD, 4 domains)", s_steps, D, "student_step", evals(s_steps, prof.student_epochs),
        "student_eval", dev)
    add("hrkd (stage B, 4 domains)", s_steps, D, "kd_step", evals(s_steps, prof.student_epochs),
        "student_eval", dev)
    single = sum(prof.student_epochs * n for n in spe_single.values())
    add("kd / tinybert (one student per domain, 4 students)", single, 1, "kd_step",
        sum(evals(prof.student_epochs * n, prof.student_epochs) for n in spe_single.values()),
        "student_eval", dev // D)
    pooled = prof.teacher_epochs * math.ceil(sum(train.values()) / B)
    add("meta-teacher (pooled domains)", pooled, 1, "teacher_step", evals(pooled, prof.teacher_epochs),
        "teacher_eval", dev)
    add("meta-kd (two stages per target, 4 targets)", 2 * single, 1, "kd_step",
        sum(evals(prof.student_epochs * n, prof.student_epochs) for n in spe_single.values()),
        "student_eval", dev // D)
    return {"assumed_tflops": tflops, "profile": prof.name, "batch_per_domain": B, "max_len": T,
            "step_tflop": {k: v / 1e12 for k, v in cost.items()}, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tflops", type=float, default=20.0, help="assumed sustained T4 rate (TFLOP/s)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    res = estimate(args.tflops)
    print("| run (gpu profile, Amazon, HRKD split) | optimiser steps | sequences / step | TFLOP | T4 minutes (estimate) |")
    print("|---|---|---|---|---|")
    for name, r in res["runs"].items():
        print(f"| {name} | {r['optimiser steps']} | {r['sequences per step']} | {r['TFLOP']:.0f} | "
              f"{r['minutes on a T4 (estimate)']:.1f} |")
    print("step costs (TFLOP, measured by FlopCounterMode):",
          {k: round(v, 3) for k, v in res["step_tflop"].items()})
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

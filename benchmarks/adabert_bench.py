"""AdaBERT benchmark (not a test): the search step, and the derived network against the teacher and the
2-layer student, at batch 1 and 32; writes JSON.

    .venv/bin/python benchmarks/adabert_bench.py [--profile cpu] [--threads 2] [--out runs/bench/adabert.json]

1. ``search step``: supernet forward + backward + Adam update at the profile's search sizes (batch,
   max_len, d, K_max), teacher targets random (the search reads cached teacher outputs, no teacher pass),
   next to one CE step of the 2-layer BERT student at the same batch.
2. ``latency``: median forward time (eval, no grad) of the teacher (MiniLM-L6), the 2-layer student and the
   derived networks of notebook 01's keyword task (default stem and the exported-table stem), interleaved
   round by round so load from other processes hits them alike.
3. ``goals``: with the exported-table stem (β = 4 and β = 0), parameters <= 15 % of the teacher's, >= 5x faster at batch 32,
   accuracy >= 90 % of the TinyBERT-style student's (both from the cached runs of notebook 01; missing runs
   are trained first, several minutes on the cpu profile). The numbers are written whatever they are.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from hrkd_lite import get_profile
from hrkd_lite.experiments import nb01 as S
from hrkd_lite.methods.adabert.config import for_profile
from hrkd_lite.methods.adabert.derive import Genotype, build_derived
from hrkd_lite.methods.adabert.efficiency import cost_vector
from hrkd_lite.methods.adabert.probes import TeacherTargets
from hrkd_lite.methods.adabert.search import build_optimizer, search_loss
from hrkd_lite.methods.adabert.supernet import Supernet
from hrkd_lite.models.factory import build_student, build_teacher
from hrkd_lite.models.measure import count_parameters, round_robin_latency
from hrkd_lite.utils import atomic_write_json, seed_everything


def round_robin(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, dict[str, float]]:
    """Median and min in ms, sampled round by round (``hrkd_lite.models.measure.round_robin_latency``)."""
    res = round_robin_latency(fns, repeats)
    return {k: {"median_ms": v["median_ms"], "min_ms": v["min_ms"]} for k, v in res.items()}


def batch(B: int, T: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 20000, (B, T), generator=g)
    ids[:, 0] = 101
    return ids, torch.ones_like(ids)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", default=None, help="notebook 01's runs folder (default runs/01_adabert/<profile>)")
    ap.add_argument("--out", default="runs/bench/adabert.json")
    ap.add_argument("--cached-only", action="store_true",
                    help="train nothing: a missing table-stem run is replaced by the teacher-stem run's genotype "
                         "with exported tables (parameters and latency exact, accuracy not measured)")
    args = ap.parse_args()
    prof = get_profile(args.profile)
    runs = Path(args.runs or f"runs/01_adabert/{prof.name}")
    seed_everything(0)
    torch.set_num_threads(1)
    # -- accuracy runs first (they may train; one thread is faster for the many small search kernels)
    ctx = S.task_context(prof, "keyword", runs, 0, ["books", "electronics"])
    tiny, default = S.tinybert_student(ctx), S.adabert(ctx)
    tables = {}
    for b in (4.0, 0.0):
        done = runs / "keyword" / S.label_for({"stem": "table", "beta": b}) / "metrics.json"
        if args.cached_only and not done.is_file():
            base = default if b == 4.0 else S.adabert(ctx, beta=0.0)
            tables[b] = {**base, "config": {**base["config"], "stem": "table"}, "accuracy": None,
                         "architecture_text": base["architecture_text"] + " (teacher-stem search; not trained)"}
        else:
            tables[b] = S.adabert(ctx, stem="table", beta=b)
    torch.set_num_threads(args.threads)
    cfg, T, C = for_profile(prof), prof.max_len, 2
    teacher = build_teacher(prof, C).eval()
    student = build_student(prof, C).eval()
    runs_by_name = {"derived (teacher stem, β=4)": default, "derived (tables, β=4)": tables[4.0],
                    "derived (tables, β=0)": tables[0.0]}
    nets = {}
    for name, m in runs_by_name.items():
        c = for_profile(prof, stem=m["config"]["stem"])
        sup = Supernet(c, teacher.encoder.embeddings, C)
        nets[name] = build_derived(sup, Genotype.from_dict(m["architecture"]), warm_start=False).eval()
    lat: dict[str, dict] = {}
    with torch.no_grad():
        for B in (1, 32):
            ids, mask = batch(B, T)
            fns = {"teacher": lambda ids=ids, mask=mask: teacher(ids, mask),
                   "student 2L": lambda ids=ids, mask=mask: student(ids, mask)}
            fns |= {k: (lambda ids=ids, mask=mask, n=n: n(ids, mask)) for k, n in nets.items()}
            lat[f"batch{B}"] = round_robin(fns, args.repeats)
    # -- the search step vs a student CE step, same batch
    sup = Supernet(cfg, teacher.encoder.embeddings, C).train()
    opt = build_optimizer(sup, cfg)
    ids, mask = batch(cfg.batch_size, T)
    labels = torch.randint(0, C, (cfg.batch_size,))
    b = {"ids": ids, "mask": mask, "types": torch.zeros_like(ids), "labels": labels}
    targets = TeacherTargets(torch.randn(cfg.batch_size, C), torch.randn(cfg.batch_size, 7, C), [], [])
    cost, gen = cost_vector(cfg.efficiency_cost, cfg.hidden, T), torch.Generator().manual_seed(0)
    s_train = build_student(prof, C).train()
    s_opt = torch.optim.AdamW([p for p in s_train.parameters() if p.requires_grad], 1e-4)

    def search_step() -> None:
        loss, _ = search_loss(sup, cfg, b, targets.logits, targets.probe_logits, 1.0, gen, cost)
        opt.zero_grad()
        loss.backward()
        opt.step()

    def student_step() -> None:
        loss = F.cross_entropy(s_train(ids, mask).logits, labels)
        s_opt.zero_grad()
        loss.backward()
        s_opt.step()

    steps = round_robin({"search step (supernet fwd+bwd+update)": search_step,
                         "student 2L CE step": student_step}, max(3, args.repeats // 2))
    t_par = count_parameters(teacher)["total"]
    t32, tiny_acc = lat["batch32"]["teacher"]["median_ms"], tiny["accuracy"]["test"]["average"]
    goals = {}
    for name in ("derived (tables, β=4)", "derived (tables, β=0)"):
        g = {"params_ratio_vs_teacher": count_parameters(nets[name])["total"] / t_par,
             "speedup_batch32_vs_teacher": t32 / lat["batch32"][name]["median_ms"],
             "accuracy_ratio_vs_tinybert": (runs_by_name[name]["accuracy"]["test"]["average"] / tiny_acc
                                            if runs_by_name[name]["accuracy"] else None)}
        g["met"] = {"params <= 15%": g["params_ratio_vs_teacher"] <= 0.15,
                    "speed-up >= 5x @32": g["speedup_batch32_vs_teacher"] >= 5,
                    "accuracy >= 90% of TinyBERT": (None if g["accuracy_ratio_vs_tinybert"] is None
                                                    else g["accuracy_ratio_vs_tinybert"] >= 0.9)}
        goals[name] = g
    out = {"profile": prof.name, "threads": torch.get_num_threads(), "seq_len": T,
           "task": "synthetic keyword, books + electronics, seed 0 (one seed)",
           "search": {"hidden": cfg.hidden, "max_depth": cfg.max_depth, "batch": cfg.batch_size, "steps_ms": steps},
           "latency_ms": lat,
           "params": {"teacher": t_par, "student 2L": count_parameters(student)["total"],
                      **{k: count_parameters(n)["total"] for k, n in nets.items()}},
           "accuracy_test": {"teacher": default["teacher"]["accuracy"]["test"]["average"], "tinybert 2L": tiny_acc,
                             **{k: m["accuracy"]["test"]["average"] if m["accuracy"] else None
                                for k, m in runs_by_name.items()}},
           "architectures": {k: m["architecture_text"] for k, m in runs_by_name.items()},
           "goals": goals}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(Path(args.out), out)
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

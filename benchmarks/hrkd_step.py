"""Time one training step of HRKD vs a plain student step vs single-domain TinyBERT-KD (not a test).

    .venv/bin/python benchmarks/hrkd_step.py [--profile cpu] [--repeats 5] [--threads N]

Every step is forward + backward + AdamW update on the profile's sizes (batch per domain, max_len,
student layers), with the real offline teacher (MiniLM) and random inputs from the vocabulary:

- ``student``: the shared student on gold labels, one batch per domain (CE only);
- ``tinybert-single``: single-domain TinyBERT-KD on ONE domain's batch (teacher forward + 4 loss terms);
  ``×D`` gives the cost of training the D single-domain students for one step each;
- ``hrkd``: the HRKD step (D teachers, D student batches, prototypes, MetaGraph, weighted loss);
- ``hrkd[no_graph]``: the same without graph (multi-domain TinyBERT-KD), so hrkd − no_graph is the
  graph's own cost;
- ``graph only``: prototypes (G, L, D, H) → MetaGraph forward + backward to the prototypes.

Prints the median and min seconds per step over ``--repeats`` rounds (after one warm-up step each); the
steps are interleaved round by round so that load from other processes affects them alike.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch
import torch.nn.functional as F

from hrkd_lite import get_profile
from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.losses import soft_cross_entropy
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.tinybert import tinybert_layer_losses, tinybert_total
from hrkd_lite.methods.hrkd import HRKDConfig, MetaGraph, preset
from hrkd_lite.methods.hrkd.step import HRKDStudent, hrkd_step
from hrkd_lite.methods.shared.teachers import TeacherBank
from hrkd_lite.models.factory import build_student, build_teacher, teacher_layers_for_student
from hrkd_lite.models.measure import round_robin_latency
from hrkd_lite.train import build_optimizer
from hrkd_lite.utils import seed_everything


def timed_round_robin(fns: dict[str, Callable[[], None]], repeats: int) -> dict[str, tuple[float, float]]:
    """Training steps timed round by round (``round_robin_latency`` with autograd on), so a load change
    on a shared machine hits all of them alike. Returns name -> (median s, min s)."""
    res = round_robin_latency(fns, repeats, no_grad=False)
    return {k: (v["median_ms"] / 1000, v["min_ms"] / 1000) for k, v in res.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--domains", type=int, default=4)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prof = get_profile(args.profile)
    D, B, T, C = args.domains, prof.batch_size, prof.max_len, 2
    seed_everything(0)
    teacher = build_teacher(prof, C, num_domains=D).eval()
    teacher.requires_grad_(False)
    bank = TeacherBank([teacher] * D, list(range(D)))
    t_layers = teacher_layers_for_student(prof, teacher.config.num_layers)
    idx = indices_from_map([0, *t_layers])
    H, L = teacher.config.hidden_size, len(t_layers) + 1
    g = torch.Generator().manual_seed(0)
    batches = []
    for d in range(D):
        ids = torch.randint(1000, 20000, (B, T), generator=g)
        ids[:, 0], ids[:, T // 2 + 1:] = 101, 0  # [CLS] ... then padding
        mask = (ids != 0).long()
        batches.append((d, {"input_ids": ids, "attention_mask": mask, "token_type_ids": torch.zeros_like(ids),
                            "labels": torch.randint(0, C, (B,), generator=g)}))

    def make(cfg: HRKDConfig | None):
        clf = build_student(prof, C, num_domains=D)
        fit = FitDenses(clf.config.hidden_size, H, L)
        graph = MetaGraph(H, L, D, cfg) if cfg is not None and cfg.use_graph else None
        student = HRKDStudent(clf, fit, graph).train()
        return student, build_optimizer(student, 1e-4)

    fns: dict[str, Callable[[], None]] = {}
    student, opt = make(None)

    def plain(student=student, opt=opt) -> None:
        loss = sum(F.cross_entropy(student.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"],
                                                      domain=d).logits, b["labels"]) for d, b in batches)
        loss.backward()
        opt.step()
        opt.zero_grad()

    fns["student (D batches, CE)"] = plain

    def single(student=student, opt=opt) -> None:
        d, b = batches[0]
        t = bank(d, b)
        s = student.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=d)
        loss = tinybert_total(tinybert_layer_losses(s, t, student.fit, idx)) + soft_cross_entropy(s.logits, t.logits)
        loss.backward()
        opt.step()
        opt.zero_grad()

    fns["tinybert-single (1 batch)"] = single

    for name in ("hrkd", "no_graph"):
        cfg = preset(name)
        student, opt = make(cfg)

        def step(student=student, opt=opt, cfg=cfg) -> None:
            hrkd_step(student, bank, batches, idx, cfg).loss.total.backward()
            opt.step()
            opt.zero_grad()

        fns["hrkd" if name == "hrkd" else "hrkd[no_graph] (multi TinyBERT-KD)"] = step

    graph = MetaGraph(H, L, D, HRKDConfig()).train()
    groups = max(1, B // (HRKDConfig().prototype_group_size or B))
    protos = torch.randn(groups, L, D, H, requires_grad=True)

    def graph_only() -> None:
        graph(protos).weights.sum().backward()

    fns["graph only (fwd+bwd)"] = graph_only
    results = timed_round_robin(fns, args.repeats)

    print(f"profile {prof.name}: D={D} domains x batch {B} x len {T}, teacher {prof.teacher} "
          f"({teacher.config.num_layers}L/{H}), student layers {prof.student_layers}, "
          f"graph params {graph.num_parameters()['total']:,}, threads {torch.get_num_threads()}")
    print(f"{'step':40s} {'median s':>9s} {'min s':>8s}")
    for name, (med, lo) in results.items():
        print(f"{name:40s} {med:9.3f} {lo:8.3f}")
    med1 = results["tinybert-single (1 batch)"][0]
    print(f"{'tinybert-single x D (one step per domain)':40s} {D * med1:9.3f}")
    print(f"hrkd / hrkd[no_graph] = {results['hrkd'][0] / results['hrkd[no_graph] (multi TinyBERT-KD)'][0]:.2f}; "
          f"hrkd / student = {results['hrkd'][0] / results['student (D batches, CE)'][0]:.2f}; "
          f"hrkd / (D x tinybert-single) = {results['hrkd'][0] / (D * med1):.2f}")


if __name__ == "__main__":
    main()

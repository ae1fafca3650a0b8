"""``python -m hrkd_lite run adabert``: teacher -> probes -> search -> derive -> final training -> metrics.

1. The task's teacher (fine-tuned MiniLM with one head over the selected domains, ``--teacher-dir`` to
   reuse one), frozen; its logits and trained layer probes cached (``targets.py``).
2. Supernet search (``search.py``), resumable; history in ``OUT/search.npz``.
3. Derive the genotype, re-instantiate the compact network, train it (``final_training``: warm start
   from the supernet with CE only, or from scratch with CE + final-logit KD + probe KD), each domain's
   best-dev checkpoint kept as every other runner does.
4. ``OUT/metrics.json``: the usual schema, plus ``architecture`` (depth and per-node (op, input)),
   ``supernet_accuracy`` (argmax one-hot supernet, dev and test), the derived network's ``params``
   (stem included) and measured ``latency_ms``, and the teacher's for comparison.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import torch
from torch import nn
from torch.nn import functional as F

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.adabert.config import AdaBERTConfig, for_profile
from hrkd_lite.methods.adabert.derive import DerivedNet, Genotype, build_derived, derive
from hrkd_lite.methods.adabert.probes import per_example_kd, probe_kd_loss
from hrkd_lite.methods.adabert.search import SearchResult, per_domain_accuracy, run_search, supernet_logits
from hrkd_lite.methods.adabert.supernet import Supernet
from hrkd_lite.methods.adabert.targets import TaskTensors, teacher_targets
from hrkd_lite.methods.shared.context import RunContext, Step
from hrkd_lite.methods.shared.evaluation import with_average
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.teachers import TeacherBank, train_teacher
from hrkd_lite.methods.shared.training import train_with_selection
from hrkd_lite.models.measure import count_parameters, latency_table, measure_latency
from hrkd_lite.utils import atomic_write_json, seed_everything


class FinalModel(nn.Module):
    """The derived network in the runners' classifier interface (``.logits``), plus student probes used
    only by ``final_training="scratch_kd"`` (not part of the deployed network)."""

    def __init__(self, net: DerivedNet, num_labels: int, probes: bool):
        super().__init__()
        self.net = net
        d = net.classifier.in_features
        self.probes = nn.ModuleList(nn.Linear(d, num_labels) for _ in range(net.genotype.depth + 1)) if probes else None

    def forward(self, input_ids, attention_mask, token_type_ids=None, domain=0):
        return SimpleNamespace(logits=self.net(input_ids, attention_mask, token_type_ids))


def task_teacher(ctx: RunContext, teacher_dir: str | None) -> tuple[TeacherBank, dict]:
    """A teacher with one head over the task's domains (trained into OUT/teacher unless given)."""
    if teacher_dir:
        folder = Path(teacher_dir)
        if not (folder / "teacher.json").is_file():
            raise HrkdError(f"--teacher-dir {folder} holds no teacher.json; run `python -m hrkd_lite run teacher`")
        return TeacherBank.load(folder, ctx.domains, ctx.device), json.loads((folder / "teacher.json").read_text())["accuracy"]
    return train_teacher(ctx, mode="mixed", name="teacher")


def final_training(ctx: RunContext, net: DerivedNet, cfg: AdaBERTConfig, train: TaskTensors, targets,
                   name: str = "final") -> dict:
    """Train the derived network with each domain's best-dev selection; returns dev/test accuracy."""
    C = len(ctx.data.label_names)
    kd = cfg.final_training == "scratch_kd"
    model = FinalModel(net, C, probes=kd).to(ctx.device)
    w = cfg.term_weights()
    J = targets.teacher_layers

    def loss_fn(step: Step) -> torch.Tensor:
        total = 0.0
        for d, idx in step:
            b = ctx.batch(d, "train", idx)
            pooled = model.net.pooled(b["input_ids"], b["attention_mask"], b["token_type_ids"])
            logits = model.net.head(pooled)
            loss = F.cross_entropy(logits, b["labels"])
            if kd:
                rows = torch.as_tensor(idx) + train.offsets[d]
                t_logits, t_probe = targets.logits[rows].to(ctx.device), targets.probe_logits[rows].to(ctx.device)
                s_probe = torch.stack([p(torch.tanh(h)) for p, h in zip(model.probes, pooled)])
                loss = w["ce"] * loss + w["final_kd"] * per_example_kd(t_logits, logits).mean()
                if w["probe_kd"] > 0:
                    loss = loss + w["probe_kd"] * probe_kd_loss(
                        s_probe, t_probe, b["labels"], net.genotype.depth, J, map_kind=cfg.layer_map,
                        kd=cfg.probe_kd, weighting=cfg.probe_weighting, temperature=cfg.kd_temperature)
            total = total + loss
        return total

    res = train_with_selection(ctx, model, model, loss_fn, list(range(len(ctx.domains))), name=name,
                               epochs=cfg.final_epochs, lr=cfg.final_lr, head_of=lambda d: 0)
    return {"dev": res["dev"], "test": res["test"]}


def measure_derived(ctx: RunContext, net: DerivedNet) -> tuple[dict, dict]:
    """Parameters (stem / cells / head / total, stem included) and median latency at batch 1 and 32."""
    counts = {"stem": sum(p.numel() for p in net.stem.parameters()),
              "cells": sum(p.numel() for p in net.cells.parameters()),
              "head": net.layer_logits.numel() + sum(p.numel() for p in net.classifier.parameters())}
    counts["total"] = sum(counts.values())
    assert counts["total"] == count_parameters(net)["total"]
    lat: dict = {"seq_len": ctx.profile.max_len, "device": str(ctx.device)}
    net.eval()
    g = torch.Generator().manual_seed(0)
    for bs in (1, 32):
        ids = torch.randint(1000, 30000, (bs, ctx.profile.max_len), generator=g).to(ctx.device)
        mask = torch.ones_like(ids)
        lat[f"batch{bs}"] = measure_latency(lambda ids=ids, mask=mask: net(ids, mask), ctx.profile.latency_repeats,
                                            device=ctx.device)["median_ms"]
    return counts, lat


def teacher_measurements(ctx: RunContext, bank: TeacherBank) -> tuple[dict, dict]:
    """Teacher parameters and latency, measured once per teacher, length, device and thread count."""
    folder = bank.folder if bank.folder is not None else ctx.out_dir
    path = folder / f"measured_T{ctx.profile.max_len}_{ctx.device.type}_threads{torch.get_num_threads()}.json"
    if path.is_file():
        m = json.loads(path.read_text())
        return m["params"], m["latency_ms"]
    params = count_parameters(bank[0])
    latency = latency_table(bank[0], ctx.profile.max_len, ctx.profile.latency_repeats, ctx.device)
    atomic_write_json(path, {"params": params, "latency_ms": latency})
    return params, latency


def run_adabert(ctx: RunContext, teacher_dir: str | None = None, **switches) -> dict:
    """The whole method on ``ctx`` (one task = the selected domains); switches as in AdaBERTConfig."""
    cfg = for_profile(ctx.profile, **switches)
    bank, teacher_acc = task_teacher(ctx, teacher_dir)
    train, dev, test = (TaskTensors.from_ctx(ctx, s) for s in ("train", "dev", "test"))
    targets = teacher_targets(ctx, bank, cfg, train, dev)
    seed_everything(ctx.seed)
    net = Supernet(cfg, copy.deepcopy(bank[0].encoder.embeddings), len(ctx.data.label_names)).to(ctx.device)
    result: SearchResult | None = run_search(net, cfg, train, dev, targets, ctx.out_dir / "search", ctx.device,
                                             ctx.seed, ctx.progress, domains=ctx.domains,
                                             step_cap=ctx.profile.max_steps)
    assert result is not None
    super_acc = {s: with_average(per_domain_accuracy(supernet_logits(net, t, ctx.device), t, ctx.domains))
                 for s, t in (("dev", dev), ("test", test))}
    genotype: Genotype = derive(net.alpha_edges, net.alpha_depth, cfg.depths, cfg.nodes, cfg.derive_exclude_none)
    seed_everything(ctx.seed)
    derived = build_derived(net, genotype, warm_start=cfg.final_training == "warm_ce")
    acc = final_training(ctx, derived, cfg, train, targets)
    for f in (ctx.out_dir / "final").glob("best_*.safetensors"):  # keep the best-mean weights only
        if f.name != "best_mean.safetensors":
            f.unlink()
    params, latency = measure_derived(ctx, derived)
    t_params, t_latency = teacher_measurements(ctx, bank)
    extra = {
        "params": params, "latency_ms": latency, "architecture": genotype.to_dict(),
        "architecture_text": genotype.describe(), "supernet_accuracy": super_acc,
        "search": {"best_step": result.best_step, "best_dev": result.best_dev, "seconds": result.seconds,
                   "steps": int(len(result.history["step"]))},
        "teacher": {"accuracy": teacher_acc, "params": t_params, "latency_ms": t_latency,
                    "probe_accuracy_dev": targets.probe_acc, "probe_accuracy_train": targets.train_probe_acc},
        "config": cfg.to_dict(),
    }
    return write_metrics(ctx, "adabert", acc["dev"], acc["test"], None, extra)


def supernet_for(ctx: RunContext, cfg: AdaBERTConfig, bank: TeacherBank) -> Supernet:
    """A fresh supernet on ctx's device (for notebooks and benchmarks)."""
    seed_everything(ctx.seed)
    return Supernet(cfg, copy.deepcopy(bank[0].encoder.embeddings), len(ctx.data.label_names)).to(ctx.device)


def _flags() -> list:
    from hrkd_lite.methods.adabert import config as C
    from hrkd_lite.methods.registry import Flag

    d = AdaBERTConfig()
    return [
        Flag("beta", float, d.beta, "weight of the efficiency loss L_E (0 turns it off)"),
        Flag("gamma", float, d.gamma, "weight of the KD terms; CE gets 1 - gamma"),
        Flag("hidden", int, None, "channels d of the cells (default: the profile's)"),
        Flag("max_depth", int, None, "K_max, the deepest candidate (default: the profile's)"),
        Flag("search_epochs", int, None, "passes over the training set in the search (default: the profile's)"),
        Flag("layer_map", str, d.layer_map, "student->teacher layer map for probe KD", C.LAYER_MAPS),
        Flag("use_efficiency_loss", bool, d.use_efficiency_loss, "L_E on (TF code) or off (PyTorch release)"),
        Flag("efficiency_cost", str, d.efficiency_cost, "per-op cost in L_E", C.EFFICIENCY_COSTS),
        Flag("loss_weights", str, d.loss_weights, "pytorch 0.2/0.4/0.4 or tf (1-g)·CE + g·probe KD", C.LOSS_WEIGHTS),
        Flag("final_logit_kd", bool, d.final_logit_kd, "KL to the teacher's logits (PyTorch on, TF off)"),
        Flag("use_probe_kd", bool, d.use_probe_kd, "probe KD term on"),
        Flag("probe_kd", str, d.probe_kd, "per-layer probe term", C.PROBE_KD),
        Flag("probe_weighting", str, d.probe_weighting, "weights over layers", C.PROBE_WEIGHTING),
        Flag("teacher_probe_feature", str, d.teacher_probe_feature, "teacher layer feature", C.PROBE_FEATURES),
        Flag("stem", str, d.stem, "teacher: frozen embeddings + Linear; table: exported d-wide tables", C.STEMS),
        Flag("depth_heads", str, d.depth_heads, "one classifier per depth or one shared", C.DEPTH_HEADS),
        Flag("allow_depth_zero", bool, d.allow_depth_zero, "allow K = 0 (TF)"),
        Flag("tau_schedule", str, d.tau_schedule, "Gumbel temperature schedule", C.TAU_SCHEDULES),
        Flag("second_order", bool, d.second_order, "DARTS second-order architect (not offered)"),
        Flag("derive_exclude_none", bool, d.derive_exclude_none, "never derive the zero op"),
        Flag("final_training", str, d.final_training, "after derivation", C.FINAL_TRAINING),
        Flag("data_augmentation", bool, d.data_augmentation, "GloVe/BERT augmentation (not offered offline)"),
        Flag("selection", str, d.selection, "supernet checkpoint to derive from", C.SELECTION),
        Flag("teacher_dir", str, None, "folder of a previous `run teacher --mode mixed` (else one is trained)"),
    ]


def _register() -> None:
    from hrkd_lite.methods.registry import MethodSpec, register

    register(MethodSpec("adabert", run_adabert, "AdaBERT: differentiable search of a task-adaptive CNN student "
                        "(probe KD + efficiency loss), derive, train, measure", _flags()))


_register()

"""Notebook 01's experiments as plain functions returning plain dicts (every run cached on disk).

A *task* is synthetic data from the project's generator: ``keyword`` (the default generator: polarity
words, 20 % of cues negated) or ``negation`` (80 % of cues expressed as "not <opposite word>", no
contrary cues, so word order matters), optionally Amazon sentiment. Each task gets one fine-tuned
teacher (``RUNS/<task>/teacher``) shared by all its runs, and every AdaBERT run lives in
``RUNS/<task>/<label>`` where the label names the switches that differ from the defaults; a finished run
(``metrics.json`` with the same configuration) is read back instead of rerun.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional as F

from hrkd_lite.data import load_data
from hrkd_lite.methods.adabert.config import AdaBERTConfig, for_profile
from hrkd_lite.methods.adabert.derive import Genotype, derive, derived_parameter_count, stem_parameter_count
from hrkd_lite.methods.adabert.probes import layer_map, per_example_kd, probe_kd_loss, teacher_layer_features
from hrkd_lite.methods.adabert.runner import run_adabert
from hrkd_lite.methods.adabert.targets import TaskTensors, teacher_targets
from hrkd_lite.methods.baselines.runner import run_tinybert
from hrkd_lite.methods.shared.context import RunContext, Step, new_student, prepare
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.teachers import TeacherBank, train_teacher
from hrkd_lite.methods.shared.training import train_with_selection
from hrkd_lite.profiles import Profile

TASKS: dict[str, dict[str, Any]] = {
    "keyword": {},
    "negation": {"negation_rate": 0.8, "contrary_rate": 0.0},
}
ABLATIONS: dict[str, dict[str, Any]] = {
    "full": {},
    "no KD": {"gamma": 0.0},
    "final-logit KD only": {"use_probe_kd": False},
    "probes without attention": {"probe_weighting": "uniform"},
    "no L_E": {"beta": 0.0},
}


def task_context(profile: Profile, task: str, runs: Path, seed: int = 0, domains: Sequence[str] | None = None,
                 data_dir: str | Path | None = None) -> RunContext:
    """Data of ``task`` (``keyword``, ``negation`` or ``amazon``) tokenised, run folder ``runs/task``."""
    if task == "amazon":
        data = load_data("amazon", data_dir, profile=profile, seed=seed, domains=domains)
    else:
        data = load_data("synthetic", profile=profile, seed=seed, domains=domains, **TASKS[task])
    return prepare(profile, data, seed=seed, out_dir=Path(runs) / task, progress=False)


def task_teacher(ctx: RunContext) -> tuple[TeacherBank, dict]:
    """The task's teacher (one head over its domains), trained once into ``RUNS/<task>/teacher``."""
    return train_teacher(ctx, mode="mixed", name="teacher")


def label_for(switches: dict[str, Any]) -> str:
    """Run folder name: ``default`` or the non-default switches, e.g. ``beta=0``."""
    base = AdaBERTConfig()
    diff = {k: v for k, v in sorted(switches.items()) if getattr(base, k, None) != v}
    return "default" if not diff else ",".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                               for k, v in diff.items())


def adabert(ctx: RunContext, **switches: Any) -> dict:
    """``run adabert`` with ``switches`` in its own folder, read back when already finished."""
    sub = replace(ctx, out_dir=ctx.out_dir / label_for(switches))
    sub.out_dir.mkdir(parents=True, exist_ok=True)
    done = sub.out_dir / "metrics.json"
    if done.is_file():
        m = json.loads(done.read_text())
        if m.get("config") == for_profile(ctx.profile, **switches).to_dict():
            return m
    task_teacher(ctx)
    return run_adabert(sub, teacher_dir=str(ctx.out_dir / "teacher"), **switches)


def history(ctx: RunContext, **switches: Any) -> dict[str, np.ndarray]:
    """The search history (``search.npz``) of a finished run."""
    return dict(np.load(ctx.out_dir / label_for(switches) / "search.npz"))


def beta_sweep(ctx: RunContext, betas: Sequence[float]) -> dict[float, dict]:
    return {float(b): adabert(ctx, beta=float(b)) for b in betas}


def ablations(ctx: RunContext, names: Sequence[str] | None = None) -> dict[str, dict]:
    return {n: adabert(ctx, **ABLATIONS[n]) for n in (names or ABLATIONS)}


def derive_at(hist: dict[str, np.ndarray], step: int, cfg: dict, num_labels: int, teacher_hidden: int = 384,
              vocab: int = 30522, positions: int = 512, type_vocab: int = 2) -> tuple[Genotype, int]:
    """"Derive now": the genotype of softmax(α) recorded after ``step`` steps and its parameter count
    (stem included), from the configuration alone."""
    i = int(np.clip(step, 1, len(hist["step"]))) - 1
    c = AdaBERTConfig(**cfg)
    g = derive(torch.tensor(hist["alpha"][i]).log(), torch.tensor(hist["depth"][i]).log(), c.depths, c.nodes,
               c.derive_exclude_none)
    stem = stem_parameter_count(c.stem, c.hidden, vocab, positions, type_vocab, teacher_hidden)
    return g, derived_parameter_count(g, c.hidden, num_labels, stem)


def point(m: dict, name: str, latency_key: str = "batch32") -> dict[str, float | str]:
    """One point of the accuracy / size / speed plots from a metrics dict."""
    return {"name": name, "accuracy": m["accuracy"]["test"]["average"], "params": m["params"]["total"],
            "latency_ms": m["latency_ms"][latency_key]}


def teacher_point(m: dict, latency_key: str = "batch32") -> dict[str, float | str]:
    t = m["teacher"]
    return {"name": "teacher", "accuracy": t["accuracy"]["test"]["average"], "params": t["params"]["total"],
            "latency_ms": t["latency_ms"][latency_key]}


def tinybert_student(ctx: RunContext) -> dict:
    """TinyBERT-style KD into the profile's 2-layer student from the task's teacher (cached)."""
    sub = replace(ctx, out_dir=ctx.out_dir / "tinybert")
    if (sub.out_dir / "metrics.json").is_file():
        return json.loads((sub.out_dir / "metrics.json").read_text())
    task_teacher(ctx)
    sub.out_dir.mkdir(parents=True, exist_ok=True)
    return run_tinybert(sub, setting="multi", teacher_dir=str(ctx.out_dir / "teacher"))


class _ProbeStudent(torch.nn.Module):
    def __init__(self, clf: torch.nn.Module, layers: int, num_labels: int):
        super().__init__()
        self.classifier = clf
        self.probes = torch.nn.ModuleList(torch.nn.Linear(clf.config.hidden_size, num_labels)
                                          for _ in range(layers + 1))


def probes_kd_student(ctx: RunContext) -> dict:
    """The profile's 2-layer BERT student trained with AdaBERT's KD (0.2 CE + 0.4 logit KD + 0.4
    attentive probe KD, ⌈i·J/M⌉ map), the teacher frozen — a fixed architecture with the same signal."""
    sub = replace(ctx, out_dir=ctx.out_dir / "probes_kd")
    if (sub.out_dir / "metrics.json").is_file():
        return json.loads((sub.out_dir / "metrics.json").read_text())
    sub.out_dir.mkdir(parents=True, exist_ok=True)
    bank, _ = task_teacher(ctx)
    cfg = for_profile(ctx.profile)
    train, dev = TaskTensors.from_ctx(ctx, "train"), TaskTensors.from_ctx(ctx, "dev")
    targets = teacher_targets(ctx, bank, cfg, train, dev)
    C, J = len(ctx.data.label_names), targets.teacher_layers
    clf = new_student(ctx, num_domains=1, shared_head=True)
    M = clf.config.num_layers
    student = _ProbeStudent(clf, M, C).to(ctx.device)
    w = cfg.term_weights()

    def loss_fn(step: Step) -> torch.Tensor:
        total = 0.0
        for d, idx in step:
            b = ctx.batch(d, "train", idx)
            out = clf(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=0)
            rows = torch.as_tensor(idx) + train.offsets[d]
            t_logits, t_probe = targets.logits[rows].to(ctx.device), targets.probe_logits[rows].to(ctx.device)
            feats = teacher_layer_features(out.hidden_states, b["attention_mask"], clf.pooler)  # (B, M+1, H)
            s_probe = torch.stack([p(feats[:, i]) for i, p in enumerate(student.probes)])
            kd_p = probe_kd_loss(s_probe, t_probe, b["labels"], M, J, map_kind=cfg.layer_map)
            total = total + (w["ce"] * F.cross_entropy(out.logits, b["labels"])
                             + w["final_kd"] * per_example_kd(t_logits, out.logits).mean() + w["probe_kd"] * kd_p)
        return total

    res = train_with_selection(sub, student, clf, loss_fn, list(range(len(ctx.domains))), name="probes_kd",
                               epochs=ctx.profile.student_epochs, lr=ctx.profile.student_lr, head_of=lambda d: 0)
    return write_metrics(sub, "probes-kd", res["dev"], res["test"], clf,
                         {"layer_map": layer_map(cfg.layer_map, J, M)})


def same_architecture(a: dict, b: dict) -> bool:
    return a["architecture"] == b["architecture"]


def architecture_difference(a: dict, b: dict) -> dict[str, Any]:
    """How two runs' derived architectures differ: depths and the kept (op, input) edges per node."""
    ga, gb = Genotype.from_dict(a["architecture"]), Genotype.from_dict(b["architecture"])
    ea = {(j, e) for j, node in enumerate(ga.cells) for e in node}
    eb = {(j, e) for j, node in enumerate(gb.cells) for e in node}
    return {"depths": (ga.depth, gb.depth), "kept_edges": len(ea), "edges_only_in_a": len(ea - eb),
            "same": ga == gb}


def teacher_probe_accuracy(ctx: RunContext) -> dict[str, list[float]]:
    """Dev and train accuracy of the task teacher's probe on each layer 0..J (cached with the teacher)."""
    bank, _ = task_teacher(ctx)
    train, dev = TaskTensors.from_ctx(ctx, "train"), TaskTensors.from_ctx(ctx, "dev")
    t = teacher_targets(ctx, bank, for_profile(ctx.profile), train, dev)
    return {"dev": t.probe_acc, "train": t.train_probe_acc}


def gap_table(runs: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Test accuracy of the argmax supernet and of the derived, trained network for each run."""
    return {name: {"supernet (argmax, all 9 edges)": m["supernet_accuracy"]["test"]["average"],
                   "derived (top-2 edges, trained)": m["accuracy"]["test"]["average"]} for name, m in runs.items()}


def test_sizes(ctx: RunContext) -> list[int]:
    """Test examples per domain (for ``hrkd_lite.noise.compare`` on domain-averaged accuracies)."""
    return [ctx.encoded.size(d, "test") for d in range(len(ctx.domains))]

"""Notebook 00's runs (background): the teacher / student-without-KD / Hinton KD / TinyBERT-style KD runs
(``methods.baselines``) cached per run folder, the TinyBERT student before and after distillation, and a
few steps of MiniLM's last-layer transfer. The figures of these runs are drawn by ``viz.background_views``.
"""

from __future__ import annotations

import copy
import dataclasses
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from hrkd_lite.distill import FitDenses, minilm_attention_kl, minilm_value_relation_kl
from hrkd_lite.methods.baselines.runner import Student, run_kd, run_student, run_teacher, run_tinybert
from hrkd_lite.methods.shared.context import new_student, prepare
from hrkd_lite.models import BertEncoder
from hrkd_lite.profiles import Profile
from hrkd_lite.train import load_weights
from hrkd_lite.viz.background_kd import METHODS


def run_teacher_stage(profile: Profile, data, out_dir: str | Path, seed: int = 0, fresh: bool = True,
                      progress: bool = False) -> dict[str, Any]:
    """Tokenise ``data`` (``methods.shared.context.prepare``) and fine-tune the multi-task teacher (``run_teacher``)
    into ``out_dir/teacher``. ``fresh`` deletes ``out_dir`` first, so a rerun trains again.

    Returns the experiment dict ``{"ctx", "teacher" (its metrics), "out_dir", "seconds"}`` that
    :func:`run_student_stage` extends.
    """
    out = Path(out_dir)
    if fresh and out.exists():
        shutil.rmtree(out)
    ctx = prepare(profile, data, seed=seed, out_dir=out, progress=progress)
    t0 = time.perf_counter()
    teacher = run_teacher(_sub(ctx, out / "teacher", seed))
    return {"ctx": ctx, "teacher": teacher, "out_dir": out, "seconds": {"teacher": time.perf_counter() - t0}}


def _sub(ctx, path: Path, seed: int):
    path.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(ctx, out_dir=path, seed=seed)


def run_student_stage(exp: dict[str, Any], seeds: Sequence[int] = (0,), setting: str = "multi") -> dict[str, Any]:
    """Student without KD, Hinton KD and TinyBERT-style KD (``methods.baselines``) for every seed, all
    distilled from the teacher of :func:`run_teacher_stage`, into ``out_dir/seed<s>/<method>``.

    ``setting``: "multi" (one student with a head per domain, like the multi-task teacher) or "single"
    (one student per domain, the papers' single-domain baselines; D times the checkpoints).
    Adds ``runs`` ({method: [metrics per seed]}), ``seeds`` and ``setting`` to ``exp`` and returns it.
    """
    runners = {"student": run_student, "kd": run_kd, "tinybert": run_tinybert}
    runs: dict[str, list[dict]] = {m: [] for m in METHODS}
    for seed in seeds:
        for m in METHODS:
            t0 = time.perf_counter()
            kwargs = {"setting": setting}
            if m != "student":
                kwargs["teacher_dir"] = exp["teacher"]["teacher_dir"]
            folder = exp["out_dir"] / f"seed{seed}" / m
            metrics = runners[m](_sub(exp["ctx"], folder, seed), **kwargs)
            metrics["run_dir"] = str(folder)
            runs[m].append(metrics)
            exp["seconds"][f"{m}/seed{seed}"] = time.perf_counter() - t0
    exp.update(runs=runs, seeds=list(seeds), setting=setting)
    return exp


def tinybert_student(ctx, teacher_hidden: int, weights: str | Path | None = None, setting: str = "multi"):
    """The TinyBERT run's trainable module (classifier + ``FitDenses``), built exactly as the runner does
    (same seed, so ``weights=None`` gives the state *before* distillation); ``weights`` loads a checkpoint.
    The classifier has one head per domain ("multi") or one shared head ("single")."""
    multi = setting == "multi"
    clf = new_student(ctx, num_domains=len(ctx.domains) if multi else 1, shared_head=not multi)
    fit = FitDenses(clf.config.hidden_size, teacher_hidden, clf.config.num_layers + 1).to(ctx.device)
    student = Student(clf, fit)
    if weights is not None:
        load_weights(weights, student)
    return student.eval()


def best_weights(run_dir: str | Path, domain: str) -> Path:
    """The best-dev checkpoint of ``domain`` inside a runner's folder."""
    found = sorted(Path(run_dir).rglob(f"best_{domain}.safetensors"))
    if not found:
        raise FileNotFoundError(f"no best_{domain}.safetensors under {run_dir}")
    return found[0]


def minilm_transfer(student: BertEncoder, teacher: BertEncoder, train_batches: Sequence[dict],
                    eval_batch: dict, steps: int, lr: float = 1e-4) -> dict[str, Any]:
    """A few steps of MiniLM's last-layer transfer, L_AT + L_VR (``minilm_attention_kl`` +
    ``minilm_value_relation_kl``), on a copy of ``student``. Returns the trained copy, the per-step
    losses and the dev-batch losses before and after."""
    s = copy.deepcopy(student).train()
    teacher.eval()
    opt = torch.optim.AdamW(s.parameters(), lr=lr)

    def losses(batch, grad: bool):
        with torch.no_grad():
            t = teacher(batch["input_ids"], batch["attention_mask"])
        with torch.set_grad_enabled(grad):
            o = s(batch["input_ids"], batch["attention_mask"])
            at = minilm_attention_kl(o.attention_scores[-1], t.attention_scores[-1], batch["attention_mask"])
            vr = minilm_value_relation_kl(o.values[-1], t.values[-1], batch["attention_mask"])
        return at, vr

    def evaluate():
        s.eval()
        at, vr = losses(eval_batch, False)
        s.train()
        return {"attention_kl": float(at), "value_relation_kl": float(vr)}

    before, history = evaluate(), []
    for k in range(steps):
        at, vr = losses(train_batches[k % len(train_batches)], True)
        (at + vr).backward()
        opt.step()
        opt.zero_grad()
        history.append({"step": k + 1, "attention_kl": float(at.detach()), "value_relation_kl": float(vr.detach())})
    return {"student": s.eval(), "history": history, "before": before, "after": evaluate()}

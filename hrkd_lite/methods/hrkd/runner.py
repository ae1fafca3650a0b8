"""``run hrkd``: stage B of HRKD — one shared student distilled jointly from the multi-task teacher,
each domain's layer losses re-weighted by the domain-relational graph (``docs/methods/hrkd.md`` §2, §3).

One batch per domain from the multi-domain sampler per step; what a step computes (terms, prototypes,
MetaGraph weights, the total loss, what goes to ``recorded.npz``) is described in ``methods.hrkd.step``.

Each domain is tested with its own best-dev checkpoint (``checkpoint_selection="per_domain"``, §3).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.teacher_cache import CacheSpec
from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.hrkd import (
    PRESETS,
    HRKDConfig,
    MetaGraph,
    Recorder,
    Recording,
)
from hrkd_lite.methods.hrkd import preset as make_preset
from hrkd_lite.methods.hrkd.config import AGGREGATIONS, CHECKPOINT_SELECTIONS, SOFT_CE_REDUCTIONS, W2_INITS
from hrkd_lite.methods.hrkd.step import StepOutput, build_hrkd_student, hrkd_step
from hrkd_lite.methods.registry import Flag, MethodSpec, register
from hrkd_lite.methods.shared.context import RunContext, Step
from hrkd_lite.methods.shared.evaluation import accuracy
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.specs import load_classifier
from hrkd_lite.methods.shared.teachers import TeacherBank, cached_teachers, train_teacher
from hrkd_lite.methods.shared.training import DomainBatches, train_with_selection
from hrkd_lite.models.factory import teacher_layers_for_student


def teacher_bank(ctx: RunContext, teacher_dir: str | None, per_domain: bool) -> tuple[TeacherBank, Path]:
    """Stage-A teachers: a previous run's folder (with ``teacher.json``, or its ``teacher/`` subfolder),
    or trained now into ``out_dir/teacher``. ``per_domain=False`` uses the best-mean checkpoint for all."""
    if teacher_dir is None:
        train_teacher(ctx, mode="multitask", name="teacher")
        folder = ctx.out_dir / "teacher"
    else:
        folder = Path(teacher_dir)
        if not (folder / "teacher.json").is_file() and (folder / "teacher" / "teacher.json").is_file():
            folder = folder / "teacher"
        if not (folder / "teacher.json").is_file():
            raise HrkdError(f"teacher dir {folder} holds no teacher.json; run `python -m hrkd_lite run "
                            "multi-teacher --out DIR` and pass --teacher-dir DIR")
    info = json.loads((folder / "teacher.json").read_text())
    if info.get("mode") != "multitask":
        raise HrkdError(f"HRKD needs the multi-task teacher (per-domain heads); {folder} holds a "
                        f"{info.get('mode')!r} teacher")
    if per_domain:
        return TeacherBank.load(folder, ctx.domains, ctx.device), folder
    if not (folder / "best_mean.safetensors").is_file():
        raise HrkdError(f"per_domain_teacher=False needs {folder / 'best_mean.safetensors'}")
    model = load_classifier(folder, "best_mean.safetensors").to(ctx.device)
    heads = [info["domains"].index(name) for name in ctx.domains]
    return TeacherBank([model] * len(ctx.domains), heads, folder), folder


def variant_name(cfg: HRKDConfig) -> str:
    """``hrkd`` for the code-faithful defaults, else ``hrkd[switch=value,...]`` of the changed switches."""
    base, now = asdict(HRKDConfig()), asdict(cfg)
    diff = [f"{k}={now[k]}" for k in now if now[k] != base[k] and k != "record_every"]
    return "hrkd" if not diff else f"hrkd[{','.join(diff)}]"


class RecordCallback:
    """Trainer callback: commits the step's graph outputs to a :class:`Recorder` and saves
    ``recorded.npz`` whenever the trainer writes its resume checkpoint (epoch ends, eval points)."""

    def __init__(self, recorder: Recorder, out_dir: Path, steps_per_epoch: int, eval_every: int,
                 total_steps: int, meta: dict, graph: MetaGraph | None = None) -> None:
        self.recorder, self.out_dir, self.meta = recorder, out_dir, meta
        self.spe, self.eval_every, self.total = steps_per_epoch, eval_every, total_steps
        self.pending: StepOutput | None = None
        self.graph = graph
        self.graph_init = {k: v.detach().clone() for k, v in graph.state_dict().items()} if graph else {}
        self.graph_change: float | None = None  # max |Δ| of a graph parameter after the last step
        self._first = True
        self.last_step: int | None = None  # the last step this callback saw (None before the first)
        if (out_dir / "recorded.npz").is_file():  # resuming: keep what was saved
            recorder.extend(Recording.load(out_dir))

    def snapshot_due(self) -> bool:
        """Whether the coming step is one :meth:`__call__` snapshots (step 1 and every epoch's end); True
        before the first callback, when the coming step is not known yet (e.g. right after a resume)."""
        if self.last_step is None:
            return True
        step = self.last_step + 1
        return step == 1 or step % self.spe == 0 or step >= self.total

    def __call__(self, step: int, logs: dict) -> None:
        self.last_step = step
        if self._first:
            self.recorder.truncate(step - 1)
            self._first = False
        if self.pending is not None and self.recorder.wants(step):
            p = self.pending
            self.recorder.add(step, int(logs["epoch"]), p.graph, p.layer_terms, p.pred_terms)
            if p.graph is not None:
                w = p.graph["weights"].mean(dim=0) if p.graph["weights"].dim() == 3 else p.graph["weights"]
                for m in range(w.shape[0]):
                    logs[f"w{m}_max"] = float(w[m].max())
        epoch_end = step % self.spe == 0 or step >= self.total
        if step >= self.total and self.graph is not None:
            self.graph_change = self.max_graph_change()
        if self.pending is not None and self.pending.prototypes is not None and (step == 1 or epoch_end):
            self.recorder.add_snapshot(step, self.pending.prototypes, self.pending.features,
                                       self.eval_weights(self.pending.prototypes), self.pending.prototype_groups)
        self.pending = None
        if epoch_end or (self.eval_every and step % self.eval_every == 0):
            self.save()

    def save(self) -> Path:
        return self.recorder.to_recording(self.meta).save(self.out_dir)

    @torch.no_grad()
    def eval_weights(self, prototypes: torch.Tensor) -> torch.Tensor:
        """The graph's weights on ``prototypes`` in eval mode (no dropout; draws no random numbers).

        After the optimiser step, so a trainable graph is one update ahead of the recorded weights."""
        was = self.graph.training
        self.graph.eval()
        try:
            return self.graph(prototypes).weights
        finally:
            self.graph.train(was)

    def max_graph_change(self) -> float:
        """Largest absolute change of any graph parameter since the start (0.0 = bitwise unchanged)."""
        now = self.graph.state_dict()
        return max((float((now[k] - v).abs().max()) for k, v in self.graph_init.items()), default=0.0)


def run_hrkd(ctx: RunContext, preset_name: str = "hrkd", teacher_dir: str | None = None,
             max_steps: int | None = None, config: HRKDConfig | None = None, keep_checkpoints: bool = True,
             **switches: Any) -> dict:
    """Stage B. ``config`` (or ``preset_name`` + ``switches``; None values ignored) picks the variant.
    ``keep_checkpoints=False`` deletes the run's ``.safetensors`` once the metrics are written.

    Writes ``metrics.json`` (per-domain dev/test accuracy with each domain's best-dev checkpoint; the
    config; graph parameter counts and how far they moved) and ``recorded.npz`` / ``recorded.json``
    (per-step weights, ratios, attention) into ``ctx.out_dir``. Returns the metrics.
    """
    cfg = config or make_preset(preset_name, **{k: v for k, v in switches.items() if v is not None})
    bank, tdir = teacher_bank(ctx, teacher_dir, cfg.per_domain_teacher)
    t_cfg = bank[0].config
    t_layers = teacher_layers_for_student(ctx.profile, t_cfg.num_layers)
    indices = indices_from_map([0, *t_layers])
    teachers = cached_teachers(ctx, bank, CacheSpec.for_layers(indices))
    student = build_hrkd_student(ctx, cfg, t_cfg.hidden_size)
    D, L = len(ctx.domains), len(t_layers) + 1
    recorder = Recorder(ctx.domains, L, cfg.gat_heads, cfg.record_every)
    name = variant_name(cfg)
    meta = {"method": name, "config": cfg.to_dict(), "seed": ctx.seed, "profile": ctx.profile.name,
            "data": ctx.data.source, "teacher_layers": t_layers}
    spe = DomainBatches(ctx, list(range(D)), ctx.seed).steps_per_epoch
    max_steps = ctx.profile.max_steps if max_steps is None else max_steps
    total = ctx.profile.student_epochs * spe if max_steps is None else min(max_steps, ctx.profile.student_epochs * spe)
    cb = RecordCallback(recorder, ctx.out_dir, spe, ctx.profile.eval_every, total, meta, student.graph)

    def loss_fn(step: Step):
        out = hrkd_step(student, teachers, [(d, ctx.batch(d, "train", idx), idx) for d, idx in step], indices, cfg,
                        other_masking=cb.snapshot_due())
        cb.pending = out
        return out.loss.total, {"hidden": out.loss.hidden, "pred": out.loss.pred}

    res = train_with_selection(ctx, student, student.classifier, loss_fn, list(range(D)), name="hrkd",
                               epochs=ctx.profile.student_epochs, lr=ctx.profile.student_lr,
                               callbacks=[cb], max_steps=max_steps)
    cb.save()
    # measured on the final weights; a run resumed after its last step measures a best checkpoint's graph
    moved = 0.0 if student.graph is None else (cb.graph_change if cb.graph_change is not None
                                               else cb.max_graph_change())
    trainer = res["trainer"]
    trainer.load_best(None)
    best_mean = {
        "dev": {n: accuracy(student.classifier, ctx, d, "dev") for d, n in enumerate(ctx.domains)},
        "test": {n: accuracy(student.classifier, ctx, d, "test") for d, n in enumerate(ctx.domains)},
    }
    dev, test = (res["dev"], res["test"]) if cfg.checkpoint_selection == "per_domain" else \
        (best_mean["dev"], best_mean["test"])
    extra = {
        "setting": "multi", "variant": name, "hrkd_config": cfg.to_dict(), "teacher_dir": str(tdir),
        "teacher_layers": t_layers, "checkpoint_selection": cfg.checkpoint_selection,
        "accuracy_best_mean": best_mean, "best": res["result"].best,
        "graph_params": student.graph.num_parameters() if student.graph is not None else {},
        "graph_max_abs_change": moved, "recorded": "recorded.npz", "recorded_steps": len(recorder),
        "train_steps": res["result"].steps, "train_seconds": res["result"].seconds,
    }
    metrics = write_metrics(ctx, name, dev, test, student.classifier, extra)
    if not keep_checkpoints:
        remove_checkpoints(ctx.out_dir / "hrkd")
    return metrics


def remove_checkpoints(folder: Path) -> None:
    """Delete every ``*.safetensors`` under ``folder`` (metrics, history and recordings stay)."""
    for path in Path(folder).rglob("*.safetensors"):
        path.unlink()


def _run_cli(ctx: RunContext, preset: str = "hrkd", teacher_dir: str | None = None,
             prototype_group_size: int | None = None, **switches: Any) -> dict:
    """CLI adapter: ``--prototype-group-size 0`` means one group with the whole per-domain batch."""
    cfg = make_preset(preset, **{k: v for k, v in switches.items() if v is not None})
    if prototype_group_size is not None:
        cfg = cfg.with_overrides(prototype_group_size=prototype_group_size or None)
    return run_hrkd(ctx, teacher_dir=teacher_dir, config=cfg)  # --max-steps: ctx.profile.max_steps


_B = "(default: from --preset; code-faithful defaults in docs/methods/hrkd.md §10)"


register(MethodSpec("hrkd", _run_cli, "HRKD stage B: graph-weighted multi-domain TinyBERT distillation", [
    Flag("preset", str, "hrkd", "variant: hrkd (code defaults) or an ablation", tuple(PRESETS)),
    Flag("teacher_dir", str, None, "folder of `run multi-teacher` (else stage A runs first into OUT/teacher)"),
    Flag("graph_trainable", bool, None, f"train the MetaGraph with the student {_B}"),
    Flag("detach_prototypes", bool, None, f"stop gradients from the weights into the student {_B}"),
    Flag("use_graph", bool, None, f"false = multi-domain TinyBERT-KD {_B}"),
    Flag("hierarchical", bool, None, f"compare-aggregate before the GATs {_B}"),
    Flag("reference_attention", bool, None, f"cross-domain attention step (a) {_B}"),
    Flag("aggregation", str, None, f"compare | mean (averaging ablation) {_B}", AGGREGATIONS),
    Flag("gat_dropout", float, None, f"GAT dropout {_B}"),
    Flag("gat_dropout_in_train", bool, None, f"graph.train() each step {_B}"),
    Flag("prototype_group_size", int, None, f"examples per prototype group, 0 = whole batch {_B}"),
    Flag("prototype_group_split", str, None, f"strided (per-GPU shards) or consecutive groups {_B}",
         ("strided", "consecutive")),
    Flag("prototype_masked", bool, None, f"prototypes over real tokens only {_B}"),
    Flag("soft_ce_reduction", str, None, f"soft CE reduction {_B}", SOFT_CE_REDUCTIONS),
    Flag("w2_init", str, None, f"W2 Xavier fans {_B}", W2_INITS),
    Flag("temperature", float, None, f"soft CE temperature {_B}"),
    Flag("per_domain_teacher", bool, None, f"domain d's teacher = d's best-dev checkpoint {_B}"),
    Flag("checkpoint_selection", str, None, f"test checkpoint per domain or best mean {_B}",
         CHECKPOINT_SELECTIONS),
    Flag("record_every", int, None, f"record the graph every N steps {_B}"),
]))

"""The reference points every cross-domain method is compared with (``docs/methods/background.md`` §3, §6):

- ``teacher``: fine-tuned teacher, multi-task (per-domain heads) / mixed (one head) / single (one per domain);
- ``student``: the student fine-tuned on gold labels only (no KD);
- ``kd``: Hinton soft-target KD, L = (1-α)·CE(y, p_s) + α·T²·KL(p_t^T ‖ p_s^T);
- ``tinybert``: TinyBERT-style task distillation — embedding, attention-score and hidden MSE through
  learned projections, plus soft CE (HRKD's single-domain "TinyBERT-KD", one joint stage by default).
  ``teacher_variant="single"`` distils each domain from its own single-domain teacher (BERT_B-single, trained at
  2e-5 on the reference profiles), as the reference's ``finetune_domain.sh`` does; ``"multitask"`` (default
  here, our choice so every student of notebook 04 learns from one teacher) uses the stage-A teacher.

``setting="single"`` trains one student per domain on that domain's data (the papers' single-domain
baselines); ``setting="multi"`` one shared student with per-domain heads on all domains.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import functional as F

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.losses import hinton_kd, soft_cross_entropy
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.teacher_cache import CacheSpec
from hrkd_lite.distill.tinybert import tinybert_layer_losses, tinybert_total
from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.methods.registry import Flag, MethodSpec, register
from hrkd_lite.methods.shared.context import RunContext, Step, new_student
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.teachers import (
    CachedTeachers,
    TeacherBank,
    cached_teachers,
    get_teacher,
    train_teacher,
)
from hrkd_lite.methods.shared.training import train_with_selection
from hrkd_lite.models.factory import teacher_layers_for_student

SETTINGS = ("single", "multi")
TINYBERT_TEACHERS = ("multitask", "single")
LossBuilder = Callable[[nn.Module, "Student"], Callable[[Step], torch.Tensor]]


class Student(nn.Module):
    """The trainable state of a distillation run: the classifier plus (for TinyBERT) its projections."""

    def __init__(self, classifier: nn.Module, fit: FitDenses | None = None):
        super().__init__()
        self.classifier = classifier
        self.fit = fit


def run_students(ctx: RunContext, method: str, setting: str, make_loss: LossBuilder,
                 teacher_hidden: int | None = None, extra: dict | None = None) -> dict:
    """Train students in ``setting`` with the loss ``make_loss(student, head_of)`` gives; write metrics.json.

    ``teacher_hidden``: when given, the student gets M+1 learned projections to that width (TinyBERT W_h).
    """
    D = len(ctx.domains)
    groups = [list(range(D))] if setting == "multi" else [[d] for d in range(D)]
    dev, test, last = {}, {}, None
    for group in groups:
        clf = new_student(ctx, num_domains=D if setting == "multi" else 1, shared_head=setting != "multi")
        fit = None
        if teacher_hidden is not None:
            fit = FitDenses(clf.config.hidden_size, teacher_hidden, clf.config.num_layers + 1).to(ctx.device)
        student = Student(clf, fit)
        head_of = (lambda d: d) if setting == "multi" else (lambda d: 0)
        name = method if setting == "multi" else f"{method}/{ctx.domains[group[0]]}"
        res = train_with_selection(ctx, student, clf, make_loss(student, head_of), group, name=name,
                                   epochs=ctx.profile.student_epochs, lr=ctx.profile.student_lr, head_of=head_of)
        dev.update(res["dev"])
        test.update(res["test"])
        last = clf
    return write_metrics(ctx, method, dev, test, last, {"setting": setting, **(extra or {})})


# -- runners --------------------------------------------------------------------------------------

def run_teacher(ctx: RunContext, mode: str = "multitask") -> dict:
    bank, acc = train_teacher(ctx, mode=mode, name="teacher")
    return write_metrics(ctx, "teacher" if mode == "multitask" else f"teacher-{mode}",
                         {k: v for k, v in acc["dev"].items() if k != "average"},
                         {k: v for k, v in acc["test"].items() if k != "average"}, bank[0],
                         {"teacher_mode": mode, "teacher_dir": str(ctx.out_dir / "teacher")})


def run_student(ctx: RunContext, setting: str = "single") -> dict:
    def make_loss(student: Student, head_of):
        def loss_fn(step: Step) -> torch.Tensor:
            total = 0.0
            for d, idx in step:
                b = ctx.batch(d, "train", idx)
                out = student.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=head_of(d))
                total = total + F.cross_entropy(out.logits, b["labels"])
            return total
        return loss_fn

    return run_students(ctx, "student", setting, make_loss)


def run_kd(ctx: RunContext, setting: str = "single", temperature: float = 2.0, alpha: float = 0.5,
           teacher_dir: str | None = None) -> dict:
    teachers = cached_teachers(ctx, get_teacher(ctx, teacher_dir), CacheSpec())  # logits only

    def make_loss(student: Student, head_of):
        def loss_fn(step: Step) -> torch.Tensor:
            total = 0.0
            for d, idx in step:
                b = ctx.batch(d, "train", idx)
                t_logits = teachers(d, b, idx).logits
                out = student.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=head_of(d))
                total = total + hinton_kd(out.logits, t_logits, b["labels"], temperature=temperature, alpha=alpha)
            return total
        return loss_fn

    return run_students(ctx, "kd", setting, make_loss, extra={"temperature": temperature, "alpha": alpha})


def tinybert_loss_builder(ctx: RunContext, teachers: TeacherBank | CachedTeachers, temperature: float = 1.0,
                          soft_ce_reduction: str = "mean_classes", pred_weight: float = 1.0):
    """Joint TinyBERT loss per domain batch: emb + Σ_m (attn_m + hid_m) + pred_weight·soft-CE.

    ``teachers``: a bank (its outputs on the training rows are cached here unless ``ctx.teacher_cache``
    is off) or a :class:`CachedTeachers` already."""
    t_layers = teacher_layers_for_student(ctx.profile, teachers[0].config.num_layers)
    idx_map = indices_from_map([0, *t_layers])
    if not isinstance(teachers, CachedTeachers):
        teachers = cached_teachers(ctx, teachers, CacheSpec.for_layers(idx_map))

    def make_loss(student: Student, head_of):
        def loss_fn(step: Step) -> torch.Tensor:
            total = 0.0
            for d, idx in step:
                b = ctx.batch(d, "train", idx)
                t = teachers(d, b, idx)
                s = student.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=head_of(d))
                terms = tinybert_layer_losses(s, t, student.fit, idx_map)
                pred = soft_cross_entropy(s.logits, t.logits, temperature, reduction=soft_ce_reduction)
                total = total + tinybert_total(terms) + pred_weight * pred
            return total
        return loss_fn

    return make_loss


def run_tinybert(ctx: RunContext, setting: str = "single", temperature: float = 1.0,
                 soft_ce_reduction: str = "mean_classes", teacher_dir: str | None = None,
                 teacher_variant: str = "multitask") -> dict:
    """TinyBERT-KD students; ``teacher_variant``: ``"multitask"`` (stage-A teacher) or ``"single"`` (one teacher per
    domain, ``mode="single"``, trained into ``out_dir/single_teacher`` unless ``teacher_dir`` holds one)."""
    check_choice("tinybert teacher variant", teacher_variant, TINYBERT_TEACHERS)
    if teacher_variant == "single" and not teacher_dir:
        teachers = train_teacher(ctx, mode="single", name="single_teacher")[0]
    else:
        teachers = get_teacher(ctx, teacher_dir)
    if teacher_variant == "single" and (teachers.folder is not None and
                                json.loads((teachers.folder / "teacher.json").read_text())["mode"] != "single"):
        raise HrkdError(f"--teacher-variant single needs a `run teacher --mode single` folder; {teachers.folder} is not one")
    make_loss = tinybert_loss_builder(ctx, teachers, temperature, soft_ce_reduction)
    method = "tinybert" if teacher_variant == "multitask" else "tinybert/single-teacher"
    return run_students(ctx, method, setting, make_loss, teacher_hidden=teachers[0].config.hidden_size,
                        extra={"temperature": temperature, "soft_ce_reduction": soft_ce_reduction,
                               "teacher": teacher_variant})


_SETTING = Flag("setting", str, "single", "single: one student per domain; multi: one shared student", SETTINGS)
_TDIR = Flag("teacher_dir", str, None, "folder of a previous `run teacher` (else a teacher is trained)")
register(MethodSpec("teacher", run_teacher, "fine-tune the teacher (multitask / mixed / single)",
                    [Flag("mode", str, "multitask", "teacher type", ("multitask", "mixed", "single"))]))
register(MethodSpec("student", run_student, "fine-tune the student on gold labels, no KD", [_SETTING]))
register(MethodSpec("kd", run_kd, "Hinton soft-target KD", [
    _SETTING, Flag("temperature", float, 2.0, "softmax temperature T"),
    Flag("alpha", float, 0.5, "weight of the soft-target term"), _TDIR]))
register(MethodSpec("tinybert", run_tinybert, "TinyBERT-style KD (emb + attention scores + hidden + soft CE)", [
    _SETTING, Flag("temperature", float, 1.0, "soft-CE temperature"),
    Flag("soft_ce_reduction", str, "mean_classes", "HRKD code divides by C", ("mean_classes", "batchmean")),
    Flag("teacher_variant", str, "multitask", "multitask (stage-A) or single (one single-domain teacher per domain, "
         "the reference baseline)", TINYBERT_TEACHERS),
    _TDIR]))

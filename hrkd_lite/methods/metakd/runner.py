"""Meta-KD step 2: meta-distillation, one student per target domain (``docs/methods/meta_kd.md`` §4), ``run meta-kd``.

For target domain k the student sees only k's training split; the teacher sees the same batches.

- Stage 1 [C]: L_1 = mean_i λ_i [L_rep,i + L_att,i + γ₂ L_TKD] (``metakd.losses.stage1_loss``), with
  λ_i = (1 + t_i)/(1 + exp((1 − p_T(y_i|x_i))²)) (``metakd.weights``) and TKD on the pre-tanh
  domain-corrupted features; ``instance_weighting="batch_mean"`` reproduces the EasyNLP bug.
- Stage 2 [C]: L_2 = soft-CE(z_T/T, z_S/T) averaged over batch and classes, no λ, no T², best-dev
  checkpoint on k.
- ``schedule="joint"``: L_1 + L_2 in one run (paper form [M]).

Training values come from Meta-KD's own recipe (:mod:`hrkd_lite.methods.metakd.recipe`): stage 1 at a
constant rate, stage 2 with warmup + linear decay, each on the target's rows reshuffled every epoch. As in
the authors' code the frozen teacher runs in train mode (dropout on, ``teacher_train_mode``), the heads
are relu(pooled) without dropout (``head_input``) and h̄ skips [CLS] (``corruption_skip_cls``). W_fit starts
from N(0, 0.02): the authors load it from the general-distillation TinyBERT checkpoint, which the laptop
student (a truncated MiniLM) does not have (a documented departure).

Teachers: ``meta`` (``metakd.meta_teacher``), or the baselines ``single`` (target domain only) and
``mix`` (all domains), trained by the same loop with plain CE (no t_i, no corruption loss), so that meta
vs mix isolates the Meta-KD ingredients and a single teacher is trained only for the targets asked for.
Students of baseline teachers are plain two-stage TinyBERT (λ ≡ 1, no TKD) unless
``use_expertise_weights`` is set.
Settings: ``zero_shot`` (meta-teacher trained without k), ``target_few_shot`` (fraction of k's training
split kept, for teacher and student).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.teacher_cache import CacheSpec
from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.methods.metakd.config import (
    INSTANCE_WEIGHTING,
    PRED_CE_REDUCTIONS,
    SCHEDULES,
    TEACHER_VARIANTS,
    MetaKDConfig,
    teacher_config_for,
)
from hrkd_lite.methods.metakd.corruption import DomainCorruptionHead
from hrkd_lite.methods.metakd.features import prototype_scores, scores_by_domain
from hrkd_lite.methods.metakd.losses import intermediate_terms, joint_loss, stage1_loss, stage2_loss, tkd_loss
from hrkd_lite.methods.metakd.meta_teacher import (
    TEACHER_FLAGS,
    MetaTeacher,
    MetaTeacherBank,
    meta_teacher_name,
    signature,
    train_meta_teacher,
)
from hrkd_lite.methods.metakd.recipe import MetaKDRecipe, recipe_for
from hrkd_lite.methods.metakd.scores import mean_pool
from hrkd_lite.methods.metakd.weights import expertise_weights
from hrkd_lite.methods.registry import Flag, MethodSpec, register
from hrkd_lite.methods.shared.context import RunContext, Step, prepare
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.teachers import cached_teachers
from hrkd_lite.methods.shared.training import DomainBatches, train_with_selection
from hrkd_lite.models import ModelOutput, MultiDomainClassifier
from hrkd_lite.models.factory import build_student, teacher_layers_for_student
from hrkd_lite.train import TrainConfig, Trainer, load_weights, save_weights
from hrkd_lite.utils import atomic_write_json, seed_everything

RESULT = "result.json"
STUDENT_WEIGHTS = "student.safetensors"


@dataclass
class TeacherView:
    """A frozen teacher as the student sees it: ``view(batch, d) -> (ModelOutput, z^T (B, H_t) | None)``.

    ``model`` is a :class:`MetaTeacher` (z^T = its pre-tanh corrupted feature) or a plain classifier
    (no feature); ``head`` is the classifier head used for domain d. ``train_mode``: run the frozen teacher
    with dropout on (the authors' distillation scripts never call ``eval()``); gradients never reach it.
    """

    model: nn.Module
    head: int = 0
    train_mode: bool = False

    @property
    def classifier(self) -> MultiDomainClassifier:
        return self.model.classifier if isinstance(self.model, MetaTeacher) else self.model

    @torch.no_grad()
    def __call__(self, b: dict[str, Tensor], d: int) -> tuple[ModelOutput, Tensor | None]:
        self.model.train(self.train_mode)
        if isinstance(self.model, MetaTeacher):
            out, corr = self.model(b["input_ids"], b["attention_mask"], b["token_type_ids"], d)
            return out, corr.feature
        return self.model(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=self.head), None


class MetaStudent(nn.Module):
    """Everything stage 1/2 train: the student classifier, its own corruption head (W^S_c, E^S_D), the one
    shared W_fit (H_s -> H_t, docs/methods/meta_kd.md §4), and — only for the EasyNLP bug switch — a frozen, random
    ``teacher_fit`` (H_t -> H_t) applied to the TKD target (docs/methods/meta_kd.md §5.2)."""

    def __init__(self, classifier: MultiDomainClassifier, num_domains: int, teacher_hidden: int,
                 include_padding: bool = True, teacher_fit: bool = False, skip_cls: bool = True) -> None:
        super().__init__()
        hs = classifier.config.hidden_size
        self.classifier = classifier
        self.corruption = DomainCorruptionHead(hs, num_domains)
        self.fit = FitDenses(hs, teacher_hidden, 1)[0]
        self.include_padding = include_padding
        self.skip_cls = skip_cls
        self.teacher_fit: nn.Module | None = None
        if teacher_fit:
            self.teacher_fit = FitDenses(teacher_hidden, teacher_hidden, 1)[0].requires_grad_(False)

    def forward(self, b: dict[str, Tensor], d: int) -> tuple[ModelOutput, Tensor]:
        """Student outputs and z^S = W^S_c(h̄^S + E^S_D(d)) (B, H_s)."""
        out = self.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=0)
        pooled = mean_pool(out.hidden_states[-1], b["attention_mask"], include_padding=self.include_padding,
                           skip_cls=self.skip_cls)
        return out, self.corruption(pooled, d).feature


@torch.no_grad()
def expertise_table(teacher: TeacherView, ctx: RunContext, d: int, scores: Tensor, split: str = "train"
                    ) -> dict[str, np.ndarray]:
    """Per training row of domain d: teacher p_T(y|x) ``p``, prototype score ``t`` and λ ``lam`` (N,)."""
    ps, lams = [], []
    t_all = scores.cpu()
    n0 = 0
    for b in ctx.encoded.iter_eval(d, split, ctx.profile.eval_batch_size):
        b = {k: v.to(ctx.device) for k, v in b.items()}
        out, _ = teacher(b, d)
        n = b["labels"].shape[0]
        probs = torch.softmax(out.logits.float(), -1).gather(1, b["labels"][:, None]).squeeze(1).cpu()
        ps.append(probs)
        lams.append(expertise_weights(out.logits.cpu(), b["labels"].cpu(), t_all[n0:n0 + n]))
        n0 += n
    return {"p": torch.cat(ps).numpy(), "t": t_all.numpy(), "lam": torch.cat(lams).numpy()}


def distill_student(ctx: RunContext, teacher: TeacherView, target: int, cfg: MetaKDConfig,
                    scores: Tensor | None, name: str, use_tkd: bool = True,
                    recipe: MetaKDRecipe | None = None) -> dict[str, Any]:
    """Distil one student for ``target`` (stage 1 then stage 2, or joint) into ``ctx.out_dir/name``.

    Args:
        teacher: the frozen teacher view.
        scores: (N_k,) prototype scores of the target's training rows; None -> λ ≡ 1 (plain TinyBERT).
        use_tkd: add L_TKD (needs a meta-teacher; ignored when the teacher has no corruption feature).
        recipe: stage epochs, rates, schedules and batch size (default ``recipe_for(ctx.profile, K)``).

    Returns:
        ``{"dev", "test"}`` accuracies on the target, ``"lambda_mean"``, ``"student"`` (classifier).
        A finished student is cached: ``name/result.json`` and ``name/student.safetensors`` (optimiser
        states and intermediate checkpoints are deleted to keep runs small); a rerun reloads them.
    """
    prof, K = ctx.profile, len(ctx.domains)
    rc = recipe or recipe_for(prof, K)
    folder = ctx.out_dir / name
    seed_everything(ctx.seed)
    clf = build_student(prof, len(ctx.data.label_names), 1, shared_head=True, head_input=cfg.head_input)
    t_clf = teacher.classifier
    student = MetaStudent(clf, K, t_clf.config.hidden_size, cfg.token_mean_with_padding,
                          cfg.tkd_target_fit_dense and use_tkd, skip_cls=cfg.corruption_skip_cls).to(ctx.device)
    if (folder / RESULT).is_file():
        load_weights(folder / STUDENT_WEIGHTS, student)
        return {**json.loads((folder / RESULT).read_text()), "student": clf}
    indices = indices_from_map([0, *teacher_layers_for_student(prof, t_clf.config.num_layers)])
    # a teacher in train mode (dropout on, the authors' default) gives new outputs every epoch: no cache then
    cache_ctx = replace(ctx, teacher_cache=ctx.teacher_cache and not teacher.train_mode)
    cached = cached_teachers(cache_ctx, [teacher.model] * K, CacheSpec.for_layers(indices, feature=True),
                             call=lambda d, b: teacher(b, d), heads=[teacher.head] * K)
    t_scores = None if scores is None else scores.to(ctx.device)
    lam_seen: list[float] = []

    def forward(step: Step):
        ((d, idx),) = step
        b = ctx.batch(d, "train", idx)
        t_out, t_feat = cached.cache(d, b, idx)  # computed once per row, read back every later epoch
        s_out, s_feat = student(b, d)
        lam = None
        if t_scores is not None:
            lam = expertise_weights(t_out.logits, b["labels"], t_scores[torch.as_tensor(idx, device=ctx.device)])
            lam_seen.append(float(lam.mean()))
        return t_out, t_feat, s_out, s_feat, lam

    def layer_terms(t_out, t_feat, s_out, s_feat):
        rep, att = intermediate_terms(s_out, t_out, student.fit, indices)
        tkd = None
        if use_tkd and t_feat is not None:
            tkd = tkd_loss(s_feat, t_feat, student.fit, student.teacher_fit)
        return rep, att, tkd

    def stage1(step: Step):
        t_out, t_feat, s_out, s_feat, lam = forward(step)
        rep, att, tkd = layer_terms(t_out, t_feat, s_out, s_feat)
        loss = stage1_loss(rep, att, tkd, lam, cfg.tkd_weight, cfg.instance_weighting)
        return loss, {"rep": float(rep.detach().mean()), "att": float(att.detach().mean()),
                      **({"tkd": float(tkd.detach())} if tkd is not None else {})}

    def stage2(step: Step):
        t_out, _, s_out, _, lam = forward(step)
        w = lam if cfg.pred_lambda_weighting else None
        return stage2_loss(s_out.logits, t_out.logits, cfg.pred_temperature, w, cfg.instance_weighting,
                           cfg.pred_ce_reduction)

    def joint(step: Step):
        t_out, t_feat, s_out, s_feat, lam = forward(step)
        rep, att, tkd = layer_terms(t_out, t_feat, s_out, s_feat)
        return joint_loss(rep, att, tkd, s_out.logits, t_out.logits, lam, cfg.tkd_weight, cfg.pred_temperature,
                          cfg.pred_lambda_weighting, cfg.instance_weighting, cfg.pred_ce_reduction)

    common = {"head_of": lambda d: 0, "batch_size": rc.student_batch_size}
    if cfg.schedule == "two_stage":
        tc = TrainConfig(epochs=rc.stage1_epochs, lr=rc.stage1_lr, seed=ctx.seed, schedule=rc.stage1_schedule,
                         out_dir=str(ctx.out_dir / name / "stage1"), desc=f"{name} stage 1", progress=ctx.progress,
                         max_steps=prof.max_steps, mixed_precision=prof.mixed_precision)
        batches = DomainBatches(ctx, [target], ctx.seed, batch_size=rc.student_batch_size)
        Trainer(student, stage1, None, batches, tc).fit()
        res = train_with_selection(ctx, student, clf, stage2, [target], name=f"{name}/stage2", epochs=rc.stage2_epochs,
                                   lr=rc.stage2_lr, schedule=rc.stage2_schedule, **common)
    else:
        res = train_with_selection(ctx, student, clf, joint, [target], name=f"{name}/joint", epochs=rc.stage1_epochs,
                                   lr=rc.stage1_lr, schedule=rc.stage2_schedule, **common)
    dn = ctx.domains[target]
    res["trainer"].load_best(dn)
    out = {"dev": res["dev"][dn], "test": res["test"][dn],
           "lambda_mean": float(np.mean(lam_seen)) if lam_seen else None}
    save_weights(folder / STUDENT_WEIGHTS, student)
    atomic_write_json(folder / RESULT, out)
    for sub in ("stage1", "stage2", "joint"):
        if (folder / sub).is_dir():
            shutil.rmtree(folder / sub)
    return {**out, "student": clf}


def few_shot_context(ctx: RunContext, target: int, fraction: float, mode: str = "prefix") -> RunContext:
    """A context whose target domain keeps a ``fraction`` of its training split (``few_shot_mode``: the first
    rows in file order, the HRKD code's rule, or a stratified subset)."""
    dn = ctx.domains[target]
    data = ctx.data.few_shot(fraction, seed=ctx.seed, domains=[dn], mode=mode)
    folder = f"fewshot_{fraction:g}_{dn}" + ("" if mode == "prefix" else f"_{mode}")
    return prepare(ctx.profile, data, ctx.seed, ctx.out_dir / folder, ctx.progress, tokenizer=ctx.tokenizer,
                   teacher_cache=ctx.teacher_cache)


def baseline_or_meta_teacher(ctx: RunContext, cfg: MetaKDConfig, variant: str, target: int,
                             zero_shot: bool = False, recipe: MetaKDRecipe | None = None) -> MetaTeacherBank:
    """The teacher of ``variant`` for ``target``: meta (t_i + corruption loss), mix (all domains, plain CE)
    or single (the target only, plain CE); ``zero_shot`` leaves the target out (meta / mix)."""
    dn = ctx.domains[target]
    tcfg = teacher_config_for(variant, cfg)
    if variant == "single":
        return train_meta_teacher(ctx, tcfg, meta_teacher_name(tcfg, f"single_teacher_{dn}"), only=[target],
                                  recipe=recipe)
    base = "meta_teacher" if variant == "meta" else "mix_teacher"
    if zero_shot:
        return train_meta_teacher(ctx, tcfg, meta_teacher_name(tcfg, f"{base}_no_{dn}"), exclude=target,
                                  recipe=recipe)
    return train_meta_teacher(ctx, tcfg, meta_teacher_name(tcfg, base), recipe=recipe)


def _meta_bank(ctx: RunContext, cfg: MetaKDConfig, teacher_dir: str | None,
               recipe: MetaKDRecipe | None = None) -> MetaTeacherBank:
    if teacher_dir:
        folder = Path(teacher_dir)
        sub = folder / "meta_teacher" if (folder / "meta_teacher" / "meta_teacher.json").is_file() else folder
        if not (sub / "meta_teacher.json").is_file():
            raise HrkdError(f"--teacher-dir {folder} holds no meta_teacher.json; run `python -m hrkd_lite run "
                            f"meta-teacher --out {folder}` first")
        import json

        return MetaTeacherBank(sub, json.loads((sub / "meta_teacher.json").read_text()), ctx.device)
    return train_meta_teacher(ctx, cfg, meta_teacher_name(cfg), recipe=recipe)


def run_meta_kd(ctx: RunContext, teacher: str = "meta", targets: str | None = None,
                teacher_dir: str | None = None, zero_shot: bool = False, target_few_shot: float | None = None,
                use_expertise_weights: bool | None = None, recipe: MetaKDRecipe | None = None,
                target_few_shot_mode: str = "prefix", **switches: Any) -> dict:
    """``run meta-kd``: one student per target domain; writes ``metrics.json`` (students' accuracy).

    Args:
        teacher: ``meta`` | ``single`` | ``mix``.
        targets: comma-separated target domains (default all).
        teacher_dir: reuse a ``run meta-teacher`` output (meta teacher, no few/zero-shot only).
        zero_shot: per target, a meta-teacher trained without it.
        target_few_shot: per target, keep this fraction of its training split (teacher and student).
        use_expertise_weights: λ_i on/off (default: on for the meta-teacher, off for baselines).
        recipe: Meta-KD's training values (default ``recipe_for(ctx.profile, K)``: the reference, scaled).
        target_few_shot_mode: ``"prefix"`` (first rows in file order, the HRKD code's rule) or ``"stratified"``.
        switches: :class:`MetaKDConfig` fields.
    """
    rc = recipe or recipe_for(ctx.profile, len(ctx.domains))
    check_choice("teacher", teacher, TEACHER_VARIANTS)
    cfg = MetaKDConfig(**switches, teacher_variant=teacher, zero_shot=zero_shot, few_shot=target_few_shot)
    if cfg.split != "hrkd":
        raise HrkdError(f"split {cfg.split!r} is not implemented by the data layer; valid choices: hrkd")
    names = [t.strip() for t in targets.split(",")] if targets else list(ctx.domains)
    tids = [ctx.data.domain_index(n) for n in names]
    use_lam = (teacher == "meta") if use_expertise_weights is None else bool(use_expertise_weights)
    shared_bank = None
    dev, test, info, student = {}, {}, {}, None
    for k in tids:
        dn = ctx.domains[k]
        ck = few_shot_context(ctx, k, target_few_shot, target_few_shot_mode) if target_few_shot is not None else ctx
        if teacher == "meta" and not zero_shot and target_few_shot is None:
            shared_bank = shared_bank or _meta_bank(ctx, cfg, teacher_dir, rc)
            bank = shared_bank
        else:
            bank = baseline_or_meta_teacher(ck, cfg, teacher, k, zero_shot, rc)
        view, t_acc = TeacherView(bank[k], 0, cfg.teacher_train_mode), bank.accuracy
        scores = None
        if use_lam:
            scores = scores_by_domain(prototype_scores(ck, cfg), range(len(ctx.domains)), len(ctx.domains))[k]
        tag = f"student_{teacher}" + ("_zeroshot" if zero_shot else "")
        tag += f"_{signature([cfg.to_dict(), use_lam, rc.to_dict(), target_few_shot_mode])}"
        res = distill_student(ck, view, k, cfg, scores, f"{tag}/{dn}", use_tkd=teacher == "meta", recipe=rc)
        dev[dn], test[dn], student = res["dev"], res["test"], res["student"]
        info[dn] = {"teacher_dev": t_acc["dev"][dn], "teacher_test": t_acc["test"][dn],
                    "lambda_mean": res["lambda_mean"], "train_size": ck.encoded.size(k, "train")}
    method = "meta-kd" if teacher == "meta" else f"meta-kd/{teacher}-teacher"
    if zero_shot:
        method += "/zero-shot"
    return write_metrics(ctx, method, dev, test, student,
                         {"metakd": cfg.to_dict(), "teacher_variant": teacher, "per_target": info,
                          "use_expertise_weights": use_lam, "target_few_shot": target_few_shot,
                          "zero_shot": zero_shot, "recipe": rc.to_dict(),
                          "target_few_shot_mode": target_few_shot_mode if target_few_shot is not None else None})


def _run_cli(ctx: RunContext, teacher_variant: str = "meta", **flags: Any) -> dict:
    """CLI adapter: ``--teacher`` names the teacher checkpoint on every method, so the variant is
    ``--teacher-variant``."""
    return run_meta_kd(ctx, teacher=teacher_variant, **flags)


register(MethodSpec("meta-kd", _run_cli, "Meta-KD meta-distillation: one student per target domain", [
    Flag("teacher_variant", str, "meta", "meta-teacher or a baseline teacher (single / mix)", TEACHER_VARIANTS),
    Flag("targets", str, None, "comma-separated target domains (default all)"),
    Flag("teacher_dir", str, None, "output folder of `run meta-teacher` to reuse"),
    Flag("zero_shot", bool, False, "meta-teacher trained without the target domain"),
    Flag("target_few_shot", float, None, "fraction of the target's training split kept"),
    Flag("target_few_shot_mode", str, "prefix", "target few-shot rows: prefix (first rows in file order, "
         "HRKD code) or stratified", ("prefix", "stratified")),
    Flag("use_expertise_weights", bool, None, "λ_i on/off (default on for meta, off for baselines)"),
    Flag("instance_weighting", str, "per_instance", "per_instance (authors) or batch_mean (EasyNLP bug)",
         INSTANCE_WEIGHTING),
    Flag("tkd_weight", float, 0.5, "γ₂, weight of the transferable-knowledge feature loss"),
    Flag("tkd_target_fit_dense", bool, False, "project the TKD target too (EasyNLP bug)"),
    Flag("schedule", str, "two_stage", "two_stage (code) or joint (paper [M])", SCHEDULES),
    Flag("pred_temperature", float, 1.0, "stage-2 temperature (authors 1, EasyNLP 2)"),
    Flag("pred_lambda_weighting", bool, False, "λ_i on the stage-2 loss too (paper? [M])"),
    Flag("pred_ce_reduction", str, "mean_classes", "stage-2 soft CE: mean over batch and classes (authors) "
         "or batch mean of the class sum", PRED_CE_REDUCTIONS),
    Flag("teacher_train_mode", bool, True, "teacher dropout on while distilling (authors: never eval())"),
    *TEACHER_FLAGS,
]))

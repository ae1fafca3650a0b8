"""The students of the L2A-style reconstruction, trained episode by episode with the same step budget
(``docs/methods/l2a.md`` §6).

Every student is the truncated teacher (``student_layers``, one head) trained on the target domain for
``episodes × inner_steps`` AdamW steps over the same target batches; they differ only in what is added:

=============  =========================================================================================
mode           loss of one inner step
=============  =========================================================================================
``no_kd``      CE(y, p_s) on a target batch
``kd``         Hinton KD on a target batch: (1−α)·CE(y, p_s) + α·T²·KL(p_t^T ‖ p_s^T)
``random``     KD on a target batch + w·T²·KL on a batch of kept candidates; every candidate of the
               episode is kept with probability 0.5 (KD + random augmentation: same generator, no selector)
``learned``    the same, candidates kept by actions **sampled** from the selector π_φ, which is updated by
               REINFORCE after the episode from the target-**dev** reward (L2A-style)
=============  =========================================================================================

(``kd_loss="tinybert"`` adds TinyBERT's embedding, attention-score and hidden MSE to both KD terms.)
After each episode the dev loss and accuracy are measured; the best-dev weights are kept and only they
are scored on the test split, by :func:`evaluate_best`. :func:`run_episodes` never reads the test split.
Episode e's target batches, candidate subset and action draws come from generators seeded by (seed, e),
so a run resumed from ``last.safetensors`` (written every ``checkpoint_every`` episodes) equals an
uninterrupted one.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from hrkd_lite.distill.layer_maps import indices_from_map
from hrkd_lite.distill.losses import hinton_kd
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.tinybert import tinybert_layer_losses, tinybert_total
from hrkd_lite.errors import check_choice
from hrkd_lite.methods.baselines.runner import Student
from hrkd_lite.methods.l2a.chain import CandidatePool
from hrkd_lite.methods.l2a.config import L2AConfig
from hrkd_lite.methods.l2a.selector import LogisticSelector, MovingAverageBaseline, candidate_features
from hrkd_lite.methods.l2a.setting import TARGET
from hrkd_lite.methods.shared.context import RunContext
from hrkd_lite.methods.shared.evaluation import predict
from hrkd_lite.models import MultiDomainClassifier
from hrkd_lite.models.factory import build_student
from hrkd_lite.train import (
    build_optimizer,
    linear_warmup_decay,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    save_weights,
)
from hrkd_lite.utils import atomic_write_json, seed_everything

MODES = ("no_kd", "kd", "random", "learned")
LAST, BEST, RESULT = "last.safetensors", "best.safetensors", "result.json"


@dataclass
class StudentInputs:
    """What every student run shares. ``teacher_target_logits`` (N, C) for the target's train rows;
    ``pool`` carries the candidates' teacher logits (M, C) and embeddings (M, H); ``centroid`` (H,)."""

    ctx: RunContext
    cfg: L2AConfig
    teacher: MultiDomainClassifier
    teacher_head: int
    teacher_target_logits: torch.Tensor
    pool: CandidatePool | None
    centroid: torch.Tensor | None


def new_student(inp: StudentInputs) -> Student:
    ctx, cfg = inp.ctx, inp.cfg
    seed_everything(ctx.seed)
    prof = ctx.profile.with_overrides(student_layers=tuple(cfg.student_layers))
    clf = build_student(prof, len(ctx.data.label_names), 1, shared_head=True).to(ctx.device)
    fit = None
    if cfg.kd_loss == "tinybert":
        fit = FitDenses(clf.config.hidden_size, inp.teacher.config.hidden_size, clf.config.num_layers + 1)
    return Student(clf, fit.to(ctx.device) if fit is not None else None)


def dev_scores(clf: MultiDomainClassifier, ctx: RunContext) -> dict[str, float]:
    """Target dev loss (mean CE against gold dev labels) and accuracy; reads only the dev split."""
    logits, labels = predict(clf, ctx, TARGET, "dev", head=0)
    loss = F.cross_entropy(torch.as_tensor(logits), torch.as_tensor(labels)).item()
    return {"loss": float(loss), "acc": float((logits.argmax(-1) == labels).mean())}


@torch.no_grad()
def student_logits(clf: MultiDomainClassifier, pool: CandidatePool, idx: np.ndarray, device, batch: int = 64
                   ) -> torch.Tensor:
    was = clf.training
    clf.eval()
    out = []
    for lo in range(0, len(idx), batch):
        b = {k: v.to(device) for k, v in pool.batch(idx[lo:lo + batch]).items()}
        out.append(clf(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=0).logits.float().cpu())
    clf.train(was)
    return torch.cat(out) if out else torch.zeros(0, 2)


def pool_features(inp: StudentInputs, clf: MultiDomainClassifier, idx: np.ndarray) -> torch.Tensor:
    """The selector's state (len(idx), F) for pool rows ``idx`` under the current student."""
    p, ix = inp.pool, torch.as_tensor(idx, dtype=torch.long)
    return candidate_features(p.teacher_logits[ix], student_logits(clf, p, idx, inp.ctx.device), p.embedding[ix],
                              inp.centroid, p.from_source[ix], p.step[ix], inp.cfg.chain_steps,
                              inp.cfg.selector_features)


def _kd_term(inp: StudentInputs, student: Student, batch: dict, t_logits: torch.Tensor, labels) -> torch.Tensor:
    cfg = inp.cfg
    s = student.classifier(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], domain=0)
    loss = hinton_kd(s.logits, t_logits, labels, temperature=cfg.temperature, alpha=cfg.alpha)
    if student.fit is not None:
        with torch.no_grad():
            t = inp.teacher(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"], domain=inp.teacher_head)
        idx_map = indices_from_map([0, *cfg.student_layers])
        loss = loss + tinybert_total(tinybert_layer_losses(s, t, student.fit, idx_map))
    return loss


def run_episodes(inp: StudentInputs, mode: str, folder: Path) -> tuple[Student, list[dict], LogisticSelector]:
    """Train one student in ``mode`` (resuming from ``folder/last.safetensors``); keep ``folder/best``.

    Returns the student (last weights), the per-episode log and the selector. Reads no test data.
    """
    check_choice("student mode", mode, MODES)
    ctx, cfg = inp.ctx, inp.cfg
    folder.mkdir(parents=True, exist_ok=True)
    student = new_student(inp)
    total = cfg.student_steps
    opt = build_optimizer(student, ctx.profile.student_lr)
    sched = linear_warmup_decay(opt, total, 0.1)
    selector = LogisticSelector(len(cfg.selector_features), cfg.selector_lr)
    baseline = MovingAverageBaseline(cfg.baseline_momentum, cfg.reward_baseline)
    state: dict = {"episode": 0, "log": [], "best": None, "prev": None}
    if (folder / LAST).is_file():
        state = load_checkpoint(folder / LAST, student, opt, sched)
        selector.phi = torch.tensor(state["phi"], dtype=torch.float64)
        baseline.load(state["baseline"])
    if state["prev"] is None:
        state["prev"] = dev_scores(student.classifier, ctx)
    train = ctx.encoded.tensors[TARGET]["train"]
    n_t, B = len(train["labels"]), ctx.profile.batch_size
    augment = mode in ("random", "learned") and inp.pool is not None and len(inp.pool) > 0
    bar = tqdm(total=cfg.episodes, initial=state["episode"], desc=f"student {mode}", disable=not ctx.progress)
    for e in range(state["episode"], cfg.episodes):
        rng = np.random.default_rng((ctx.seed, 31, e))
        g = torch.Generator().manual_seed(ctx.seed * 1_000_003 + 31 * e + 7)
        reps = -(-cfg.inner_steps * B // n_t)
        order = np.concatenate([rng.permutation(n_t) for _ in range(reps)])
        entry: dict = {"episode": e, "keep_rate": None, "mean_keep_prob": None, "kept": 0}
        kept = np.zeros(0, dtype=np.int64)
        if augment:
            sub = np.sort(rng.choice(len(inp.pool), min(cfg.candidates_per_episode, len(inp.pool)), replace=False))
            s = pool_features(inp, student.classifier, sub)
            if mode == "learned":
                a, p = selector.sample(s, g)
            else:
                p = torch.full((len(sub),), 0.5, dtype=torch.float64)
                a = (torch.rand(len(sub), generator=g, dtype=torch.float64) < p).long()
            kept = sub[a.numpy().astype(bool)]
            entry.update(keep_rate=float(a.float().mean()), mean_keep_prob=float(p.mean()), kept=int(len(kept)))
        cand_order = np.resize(rng.permutation(kept), cfg.inner_steps * cfg.candidate_batch) if len(kept) else kept
        student.train()
        for k in range(cfg.inner_steps):
            idx = order[k * B:(k + 1) * B]
            b = ctx.batch(TARGET, "train", idx)
            if mode == "no_kd":
                s_out = student.classifier(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=0)
                loss = F.cross_entropy(s_out.logits, b["labels"])
            else:
                t_log = inp.teacher_target_logits[torch.as_tensor(idx)].to(ctx.device)
                loss = _kd_term(inp, student, b, t_log, b["labels"])
                if len(cand_order):
                    ci = cand_order[k * cfg.candidate_batch:(k + 1) * cfg.candidate_batch]
                    cb = {kk: v.to(ctx.device) for kk, v in inp.pool.batch(ci).items()}
                    t_c = inp.pool.teacher_logits[torch.as_tensor(ci)].to(ctx.device)
                    loss = loss + cfg.augment_weight * _kd_term(inp, student, cb, t_c, None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in student.parameters() if p.grad is not None], 1.0)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
        dev = dev_scores(student.classifier, ctx)
        prev = state["prev"]
        reward = prev["loss"] - dev["loss"] if cfg.reward == "dev_loss" else dev["acc"] - prev["acc"]
        entry.update(reward=float(reward), dev_loss=dev["loss"], dev_acc=dev["acc"], train_loss=float(loss.detach()))
        if mode == "learned" and augment:
            adv = baseline.advantage_and_update(reward)
            selector.update(s, a, adv)
            entry.update(advantage=float(adv), baseline=baseline.current())
        entry["phi"] = selector.phi.tolist()
        state["log"].append(entry)
        state["prev"] = dev
        if state["best"] is None or dev["acc"] > state["best"]["acc"]:
            state["best"] = {"acc": dev["acc"], "loss": dev["loss"], "episode": e}
            save_weights(folder / BEST, student.classifier, metadata=state["best"])
        state.update(episode=e + 1, phi=selector.phi.tolist(), baseline=baseline.state())
        if (e + 1) % cfg.save_every == 0 and e + 1 < cfg.episodes:  # resume point (student + AdamW + RNG)
            save_checkpoint(folder / LAST, student, opt, sched, state)
        bar.update(1)
        bar.set_postfix(dev_acc=f"{dev['acc']:.3f}", kept=entry["kept"], refresh=False)
    bar.close()
    return student, state["log"], selector


def evaluate_best(inp: StudentInputs, student: Student, folder: Path) -> dict[str, float]:
    """Load ``folder/best.safetensors`` into the student; its target dev and **test** accuracy."""
    from hrkd_lite.methods.shared.evaluation import accuracy

    load_weights(folder / BEST, student.classifier)
    return {"dev": accuracy(student.classifier, inp.ctx, TARGET, "dev", 0),
            "test": accuracy(student.classifier, inp.ctx, TARGET, "test", 0)}


def train_student(inp: StudentInputs, mode: str, folder: Path) -> dict:
    """:func:`run_episodes` + :func:`evaluate_best`, cached as ``folder/result.json``."""
    folder = Path(folder)
    if (folder / RESULT).is_file():
        return json.loads((folder / RESULT).read_text())
    t0 = time.perf_counter()
    student, log, selector = run_episodes(inp, mode, folder)
    scores = evaluate_best(inp, student, folder)
    best = max(range(len(log)), key=lambda i: (log[i]["dev_acc"], -i))
    result = {"mode": mode, **scores, "best_episode": best, "log": log, "phi": selector.phi.tolist(),
              "features": list(inp.cfg.selector_features), "seconds": time.perf_counter() - t0}
    atomic_write_json(folder / RESULT, result)
    (folder / LAST).unlink(missing_ok=True)
    return result

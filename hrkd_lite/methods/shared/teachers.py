"""Teachers: fine-tuning (multi-task, mixed or one per domain), the frozen per-domain :class:`TeacherBank`,
and ``run multi-teacher``, stage A of HRKD (``docs/methods/hrkd.md`` §1.2, §1.3, §3).

Stage A: shared encoder and pooler, one linear head per domain, loss Σ_d CE(teacher(x_d, head=d), y_d) over
one batch per domain per step (the HRKD sampler), dev accuracy per domain every ``eval_every`` steps and at
epoch ends, and **one best-dev checkpoint per domain** (``best_<domain>.safetensors``): stage B uses
domain d's checkpoint as d's teacher (``per_domain_teacher``). The training itself is
:func:`train_teacher` (mode ``multitask``); the runner adds the comparison with one best-mean checkpoint
and points ``run hrkd --teacher-dir`` at its folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrkd_lite.distill.teacher_cache import CacheSpec, TeacherCache, module_fingerprint
from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.registry import MethodSpec, register
from hrkd_lite.methods.shared.context import RunContext, Step
from hrkd_lite.methods.shared.evaluation import accuracy, with_average
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.specs import load_classifier, save_model_spec
from hrkd_lite.methods.shared.training import train_with_selection
from hrkd_lite.models import MultiDomainClassifier
from hrkd_lite.models.factory import build_teacher
from hrkd_lite.profiles import Profile
from hrkd_lite.train import save_weights
from hrkd_lite.utils import atomic_write_json, seed_everything


class TeacherBank:
    """Frozen teachers, one per domain index (``per_domain_teacher``: each domain's own best-dev
    checkpoint of the multi-task run, ``docs/methods/hrkd.md`` §3). ``bank[d]`` is domain d's teacher."""

    def __init__(self, models: list[MultiDomainClassifier], heads: list[int], folder: Path | None = None):
        self.models, self.heads, self.folder = models, heads, folder
        for m in models:
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def __getitem__(self, d: int) -> MultiDomainClassifier:
        return self.models[d]

    @torch.no_grad()
    def __call__(self, d: int, batch: dict[str, torch.Tensor]):
        return self.models[d](batch["input_ids"], batch["attention_mask"], batch["token_type_ids"],
                              domain=self.heads[d])

    @classmethod
    def load(cls, folder: Path, domains: list[str], device: torch.device) -> TeacherBank:
        info = json.loads((folder / "teacher.json").read_text())
        models, heads = [], []
        for name in domains:
            if name not in info["weights"]:
                raise HrkdError(f"teacher in {folder} has no domain {name!r}; it has {sorted(info['weights'])}")
            models.append(load_classifier(folder, info["weights"][name]).to(device))
            heads.append(0 if info["shared_head"] else info["domains"].index(name))
        return cls(models, heads, folder)


#: HRKD's single-domain teacher (``train_domain.sh``) trains at 2e-5, its multi-task teacher at 5e-5 [R].
SINGLE_TEACHER_LR_RATIO = 2e-5 / 5e-5


def single_teacher_lr(profile: Profile) -> float:
    """The BERT_B-single learning rate of ``profile``: 2e-5 on the reference profiles (teacher_lr 5e-5),
    the same 0.4 × ``profile.teacher_lr`` on the laptop profiles."""
    return SINGLE_TEACHER_LR_RATIO * profile.teacher_lr


class CachedTeachers:
    """A frozen teacher (bank) whose outputs on the training rows are computed once and reused
    (:class:`~hrkd_lite.distill.teacher_cache.TeacherCache`). ``teachers(d, batch, idx)`` answers for rows
    ``idx`` of domain d's training split; ``teachers[d]`` is domain d's model, as for the bank."""

    def __init__(self, bank: Any, cache: TeacherCache) -> None:
        self.bank, self.cache = bank, cache

    def __getitem__(self, d: int) -> torch.nn.Module:
        return self.bank[d]

    def __call__(self, d: int, batch: dict[str, torch.Tensor], idx: np.ndarray) -> Any:
        return self.cache(d, batch, idx)[0]


def cached_teachers(ctx: RunContext, bank: Any, spec: CacheSpec, call: Callable | None = None,
                    heads: Sequence[int] | None = None) -> CachedTeachers:
    """Wrap ``bank`` (``bank[d]`` a frozen model, ``bank(d, batch)`` its output) in a teacher-output cache
    keyed by each domain's weights and head, over ``ctx``'s encoded training rows; the cache is switched off
    when ``ctx.teacher_cache`` is False. ``call(d, batch)`` replaces ``bank(d, batch)`` (e.g. a teacher that
    also returns a feature)."""
    heads = list(heads) if heads is not None else list(getattr(bank, "heads", range(len(ctx.domains))))
    prints: dict[int, str] = {}
    keys = []
    for d in range(len(ctx.domains)):
        model = bank[d]
        if id(model) not in prints:
            prints[id(model)] = module_fingerprint(model)
        keys.append(f"{prints[id(model)]}/head{heads[d]}")
    inputs = [ctx.encoded.tensors[d]["train"]["input_ids"] for d in range(len(ctx.domains))]
    cache = TeacherCache(call or bank, spec, inputs, keys, enabled=ctx.teacher_cache)
    return CachedTeachers(bank, cache)


def train_teacher(ctx: RunContext, mode: str = "multitask", name: str = "teacher",
                  domains: Sequence[int] | None = None, lr: float | None = None) -> tuple[TeacherBank, dict]:
    """Fine-tune teachers (``docs/methods/hrkd.md`` §1.3 stage A and baselines), saved under ``out_dir/name``.

    multitask: shared encoder, one head per domain, summed CE over one batch per domain (HRKD-teacher);
    mixed: one shared head, summed CE over one batch per domain (the AdaBERT and L2A teachers; Meta-KD's
    mix teacher pools the domains in one loader, ``methods.metakd``); single: one teacher per domain
    (BERT_B-single), its rows reshuffled every epoch.
    ``lr`` defaults to ``profile.teacher_lr``, and for ``single`` to :func:`single_teacher_lr` (2e-5 on the
    reference profiles, as HRKD's ``train_domain.sh``). Reuses the saved teacher when
    ``out_dir/name/teacher.json`` exists.
    """
    from torch.nn import functional as F

    folder = ctx.out_dir / name
    doms = list(range(len(ctx.domains))) if domains is None else list(domains)
    dom_names = [ctx.domains[d] for d in doms]
    if (folder / "teacher.json").is_file():
        info = json.loads((folder / "teacher.json").read_text())
        return TeacherBank.load(folder, ctx.domains, ctx.device), info["accuracy"]
    prof, C = ctx.profile, len(ctx.data.label_names)
    groups = [doms] if mode in ("multitask", "mixed") else [[d] for d in doms]
    weights, dev, test = {}, {}, {}
    for group in groups:
        shared = mode != "multitask"
        seed_everything(ctx.seed)
        model = build_teacher(prof, C, num_domains=len(ctx.domains), shared_head=shared).to(ctx.device)
        head_of = (lambda d: 0) if shared else (lambda d: d)

        def loss_fn(step: Step, model=model, head_of=head_of):
            total = 0.0
            for d, idx in step:
                b = ctx.batch(d, "train", idx)
                out = model(b["input_ids"], b["attention_mask"], b["token_type_ids"], domain=head_of(d))
                total = total + F.cross_entropy(out.logits, b["labels"])
            return total

        sub = name if len(groups) == 1 else f"{name}/{ctx.domains[group[0]]}"
        if lr is None:
            lr = single_teacher_lr(prof) if mode == "single" else prof.teacher_lr
        res = train_with_selection(ctx, model, model, loss_fn, group, name=sub, epochs=prof.teacher_epochs,
                                   lr=lr, head_of=head_of, sampler_mode="auto" if mode == "single" else "hrkd")
        for d in group:
            res["trainer"].load_best(ctx.domains[d])
            fname = f"best_{ctx.domains[d]}.safetensors"
            save_weights(folder / fname, model)
            weights[ctx.domains[d]] = fname
        save_model_spec(folder, model)
        dev.update(res["dev"])
        test.update(res["test"])
    acc = {"dev": with_average(dev), "test": with_average(test)}
    atomic_write_json(folder / "teacher.json", {"mode": mode, "weights": weights, "domains": ctx.domains,
                                                 "shared_head": mode != "multitask", "accuracy": acc,
                                                 "trained_on": dom_names, "lr": lr})
    return TeacherBank.load(folder, ctx.domains, ctx.device), acc


def get_teacher(ctx: RunContext, teacher_dir: str | None = None, mode: str = "multitask") -> TeacherBank:
    """A teacher from ``teacher_dir`` (a previous ``run teacher`` folder) or trained now into out_dir."""
    if teacher_dir:
        folder = Path(teacher_dir)
        if not (folder / "teacher.json").is_file():
            raise HrkdError(f"--teacher-dir {folder} holds no teacher.json; run `python -m hrkd_lite run teacher`")
        return TeacherBank.load(folder, ctx.domains, ctx.device)
    return train_teacher(ctx, mode=mode)[0]


def run_multi_teacher(ctx: RunContext) -> dict:
    """Train (or reuse) ``out_dir/teacher`` and write ``metrics.json``.

    ``accuracy``: each domain tested with its own best-dev checkpoint (how HRKD reports);
    ``accuracy_best_mean``: every domain tested with the single checkpoint best on the mean dev accuracy.
    """
    bank, acc = train_teacher(ctx, mode="multitask", name="teacher")
    folder = ctx.out_dir / "teacher"
    per_dev = {k: v for k, v in acc["dev"].items() if k != "average"}
    per_test = {k: v for k, v in acc["test"].items() if k != "average"}
    extra: dict = {"teacher_mode": "multitask", "teacher_dir": str(folder),
                   "checkpoint_selection": "per_domain"}
    if (folder / "best_mean.safetensors").is_file():
        mean_model = load_classifier(folder, "best_mean.safetensors").to(ctx.device)
        extra["accuracy_best_mean"] = {
            split: {n: accuracy(mean_model, ctx, d, split) for d, n in enumerate(ctx.domains)}
            for split in ("dev", "test")
        }
    return write_metrics(ctx, "multi-teacher", per_dev, per_test, bank[0], extra)


register(MethodSpec("multi-teacher", run_multi_teacher,
                    "HRKD stage A: multi-task teacher (shared encoder, per-domain heads, per-domain best-dev)"))

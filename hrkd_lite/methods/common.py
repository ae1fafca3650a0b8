"""What every method runner shares: the run context, batches, per-domain evaluation, teacher loading,
training with per-domain best-dev checkpoints, and ``metrics.json``.

``metrics.json`` (one schema for every method, so one script compares them)::

    {"method", "profile", "data", "seed", "domains",
     "accuracy": {"dev": {<domain>: x, ..., "average": y}, "test": {...}},   # accuracies in 0..1
     "params": {...component counts...}, "latency_ms": {"batch1": ms, "batch32": ms, ...}, ...}
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hrkd_lite.data import MultiDomainData
from hrkd_lite.data.encode import EncodedMultiDomain
from hrkd_lite.data.sampler import MultiDomainSampler
from hrkd_lite.errors import HrkdError
from hrkd_lite.models import BertConfig, BertEncoder, MultiDomainClassifier, count_parameters, latency_table
from hrkd_lite.models.factory import build_student, build_teacher, load_tokenizer
from hrkd_lite.profiles import Profile
from hrkd_lite.train import TrainConfig, Trainer, load_weights, save_weights
from hrkd_lite.train.loop import LAST
from hrkd_lite.utils import atomic_write_json, pick_device, seed_everything

Step = list[tuple[int, np.ndarray]]  # one training step: (domain index, example indices) per domain


@dataclass
class RunContext:
    """Everything a runner needs: profile, data (raw and tokenised), seed, output folder, device."""

    profile: Profile
    data: MultiDomainData
    encoded: EncodedMultiDomain
    tokenizer: Any
    seed: int
    out_dir: Path
    device: torch.device
    progress: bool = True

    @property
    def domains(self) -> list[str]:
        return self.data.domains

    def batch(self, domain: int, split: str, idx: np.ndarray) -> dict[str, torch.Tensor]:
        return {k: v.to(self.device) for k, v in self.encoded.batch(domain, split, idx).items()}


def prepare(profile: Profile, data: MultiDomainData, seed: int = 0, out_dir: str | Path = "runs/tmp",
            progress: bool = True, tokenizer=None) -> RunContext:
    """Validate and tokenise ``data`` with the teacher's tokenizer (static padding to profile.max_len)."""
    data.validate()
    tok = tokenizer if tokenizer is not None else load_tokenizer(profile.teacher)
    encoded = EncodedMultiDomain.from_data(data, tok, profile.max_len)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return RunContext(profile, data, encoded, tok, seed, out, pick_device(profile.device), progress)


class DomainBatches:
    """Adapts :class:`MultiDomainSampler` to the trainer: each item is one step, one batch per domain."""

    def __init__(self, ctx: RunContext, domains: Sequence[int], seed: int, mode: str = "hrkd"):
        self.domains = list(domains)
        sizes = [ctx.encoded.size(d, "train") for d in self.domains]
        self.sampler = MultiDomainSampler(sizes, ctx.profile.batch_size, seed=seed, mode=mode)
        self.steps_per_epoch = self.sampler.steps_per_epoch

    def epoch(self, e: int) -> list[Step]:
        return [list(zip(self.domains, step)) for step in self.sampler.epoch(e)]


@torch.no_grad()
def predict(model: MultiDomainClassifier, ctx: RunContext, domain: int, split: str,
            head: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, C) and gold labels (N,) of ``domain``'s split; ``head`` defaults to the domain's own."""
    was = model.training
    model.eval()
    logits, labels = [], []
    for b in ctx.encoded.iter_eval(domain, split, ctx.profile.eval_batch_size):
        b = {k: v.to(ctx.device) for k, v in b.items()}
        out = model(b["input_ids"], b["attention_mask"], b["token_type_ids"],
                    domain=domain if head is None else head)
        logits.append(out.logits.float().cpu())
        labels.append(b["labels"].cpu())
    model.train(was)
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def accuracy(model: MultiDomainClassifier, ctx: RunContext, domain: int, split: str,
             head: int | None = None) -> float:
    logits, labels = predict(model, ctx, domain, split, head)
    return float((logits.argmax(-1) == labels).mean())


def with_average(scores: dict[str, float]) -> dict[str, float]:
    out = dict(scores)
    out["average"] = float(np.mean(list(scores.values()))) if scores else float("nan")
    return out


def train_with_selection(ctx: RunContext, model: torch.nn.Module, classifier: MultiDomainClassifier,
                         loss_fn: Callable[[Step], Any], domains: Sequence[int], *, name: str, epochs: int,
                         lr: float, head_of: Callable[[int], int] | None = None, callbacks=(),
                         sampler_mode: str = "hrkd", max_steps: int | None = None) -> dict:
    """Train ``model`` (holding every trainable part, e.g. classifier + projections) on ``domains``.

    Dev accuracy of each domain is evaluated every ``profile.eval_every`` steps and at each epoch end; each
    domain's best-dev weights are kept (HRKD's per-domain selection), then each domain's *test* accuracy is
    measured with its own best checkpoint. Returns ``{"dev": {...}, "test": {...}, "result": TrainResult}``.
    """
    head_of = head_of or (lambda d: d)
    names = {d: ctx.domains[d] for d in domains}

    def eval_fn() -> dict[str, float]:
        return {names[d]: accuracy(classifier, ctx, d, "dev", head_of(d)) for d in domains}

    cfg = TrainConfig(epochs=epochs, lr=lr, eval_every=ctx.profile.eval_every, seed=ctx.seed,
                      out_dir=str(ctx.out_dir / name), desc=name, progress=ctx.progress, max_steps=max_steps)
    trainer = Trainer(model, loss_fn, eval_fn, DomainBatches(ctx, domains, ctx.seed, sampler_mode), cfg,
                      callbacks=callbacks)
    result = trainer.fit()
    dev, test = {}, {}
    for d in domains:
        trainer.load_best(names[d])
        dev[names[d]] = accuracy(classifier, ctx, d, "dev", head_of(d))
        test[names[d]] = accuracy(classifier, ctx, d, "test", head_of(d))
    # The run is complete: its resume state (weights + AdamW moments, ~3x the model) is no longer
    # needed; the best-dev weights stay. This keeps a notebook's runs folder to a few hundred MB.
    (Path(cfg.out_dir) / LAST).unlink(missing_ok=True)
    return {"dev": dev, "test": test, "result": result, "trainer": trainer}


# -- teachers -------------------------------------------------------------------------------------

def save_model_spec(folder: Path, model: MultiDomainClassifier, extra: dict | None = None) -> None:
    """``model.json``: what is needed to rebuild the classifier around saved weights, without the hub."""
    spec = {"encoder": model.encoder.config.to_dict(), "num_labels": model.num_labels,
            "num_domains": model.num_domains, "shared_head": model.shared_head, **(extra or {})}
    atomic_write_json(folder / "model.json", spec)


def load_classifier(folder: Path, weights: str) -> MultiDomainClassifier:
    """Rebuild a classifier from ``folder/model.json`` and load ``folder/weights``."""
    try:
        spec = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise HrkdError(f"not a model folder: {folder} ({exc})") from None
    model = MultiDomainClassifier(BertEncoder(BertConfig(**spec["encoder"])), spec["num_labels"],
                                  spec["num_domains"], spec["shared_head"])
    load_weights(folder / weights, model)
    return model


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


def train_teacher(ctx: RunContext, mode: str = "multitask", name: str = "teacher",
                  domains: Sequence[int] | None = None) -> tuple[TeacherBank, dict]:
    """Fine-tune teachers (``docs/methods/hrkd.md`` §1.3 stage A and baselines), saved under ``out_dir/name``.

    multitask: shared encoder, one head per domain, summed CE over one batch per domain (HRKD-teacher);
    mixed: one shared head over all domains (BERT_B-mix); single: one teacher per domain (BERT_B-single).
    Reuses the saved teacher when ``out_dir/name/teacher.json`` exists.
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
        res = train_with_selection(ctx, model, model, loss_fn, group, name=sub, epochs=prof.teacher_epochs,
                                   lr=prof.teacher_lr, head_of=head_of)
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
                                                 "trained_on": dom_names})
    return TeacherBank.load(folder, ctx.domains, ctx.device), acc


def get_teacher(ctx: RunContext, teacher_dir: str | None = None, mode: str = "multitask") -> TeacherBank:
    """A teacher from ``teacher_dir`` (a previous ``run teacher`` folder) or trained now into out_dir."""
    if teacher_dir:
        folder = Path(teacher_dir)
        if not (folder / "teacher.json").is_file():
            raise HrkdError(f"--teacher-dir {folder} holds no teacher.json; run `python -m hrkd_lite run teacher`")
        return TeacherBank.load(folder, ctx.domains, ctx.device)
    return train_teacher(ctx, mode=mode)[0]


def new_student(ctx: RunContext, num_domains: int, shared_head: bool) -> MultiDomainClassifier:
    seed_everything(ctx.seed)
    return build_student(ctx.profile, len(ctx.data.label_names), num_domains, shared_head).to(ctx.device)


# -- metrics --------------------------------------------------------------------------------------

def measure_model(ctx: RunContext, model: MultiDomainClassifier) -> tuple[dict, dict]:
    """Parameter counts by component and measured latency (median, batch 1 and 32) on ctx.device."""
    return count_parameters(model), latency_table(model, ctx.profile.max_len, ctx.profile.latency_repeats,
                                                  ctx.device)


def write_metrics(ctx: RunContext, method: str, dev: dict[str, float], test: dict[str, float],
                  model: MultiDomainClassifier | None, extra: dict | None = None) -> dict:
    params, latency = measure_model(ctx, model) if model is not None else ({}, {})
    metrics = {"method": method, "profile": ctx.profile.name, "data": ctx.data.source, "seed": ctx.seed,
               "domains": ctx.domains, "accuracy": {"dev": with_average(dev), "test": with_average(test)},
               "params": params, "latency_ms": latency, **(extra or {})}
    atomic_write_json(ctx.out_dir / "metrics.json", metrics)
    return metrics


def read_metrics(path: Path) -> dict:
    path = path / "metrics.json" if path.is_dir() else path
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise HrkdError(f"cannot read metrics file {path}: {exc}") from None


def format_metrics(m: dict) -> str:
    return compare_table([m], split="test")


def compare_table(runs: list[dict], split: str = "test") -> str:
    """Per-domain accuracy (%) of several runs, with parameters and batch-1 latency."""
    domains = list(dict.fromkeys(d for r in runs for d in r["accuracy"][split] if d != "average"))
    head = f"{'method':<22}" + "".join(f"{d[:11]:>12}" for d in domains) + f"{'average':>10}{'params':>10}{'ms@1':>8}"
    lines = [f"{split} accuracy (%)", head]
    for r in runs:
        acc = r["accuracy"][split]
        cells = "".join(f"{100 * acc[d]:>12.1f}" if d in acc else f"{'-':>12}" for d in domains)
        params = r.get("params", {}).get("total")
        lat = r.get("latency_ms", {}).get("batch1")
        lines.append(f"{r['method']:<22}{cells}{100 * acc['average']:>10.1f}"
                     f"{(f'{params / 1e6:.1f}M' if params else '-'):>10}{(f'{lat:.1f}' if lat else '-'):>8}")
    return "\n".join(lines)

"""Meta-KD step 1: the meta-teacher (``docs/methods/meta_kd.md`` §3), runner ``run meta-teacher``.

One teacher (shared encoder, pooler and head) fine-tuned on all domains' batches together with

    L_MT = mean_i t_i · [CE(y_i, f(x_i)) + λ_d · CE(d̃_i, W_d u_i)]        (docs/methods/meta_kd.md §3; switches §12)

where t_i are prototype scores of a *pre-trained, not fine-tuned* encoder (``metakd.scores``) and
u_i = tanh(W_c(h̄_last(x_i) + E_D(d_i))) the domain-corrupted feature (``metakd.corruption``).
Training follows Meta-KD's own recipe (:mod:`hrkd_lite.methods.metakd.recipe`): by default each step takes
32 examples from all training domains mixed in one loader (reshuffled every epoch), shuffles the domain
labels across that batch, and ONE checkpoint is kept, the best on the mixed dev set (the authors' scripts).
``teacher_selection="per_domain"`` keeps each domain's best-dev checkpoint instead (HRKD's rule); a domain
left out (zero-shot) always uses the best-mean checkpoint.

The prototype scores t_i come from ``metakd.features``; the domain probe (the check on the corruption loss)
is ``metakd.probe``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.metakd.config import (
    HEAD_INPUTS,
    PROTOTYPES,
    SCORE_FORMULAS,
    TEACHER_WEIGHT_TERMS,
    MetaKDConfig,
    teacher_config_for,
)
from hrkd_lite.methods.metakd.corruption import (
    CorruptionOutput,
    DomainCorruptionHead,
    corruption_loss,
    meta_teacher_loss,
)
from hrkd_lite.methods.metakd.features import prototype_scores, scores_by_domain
from hrkd_lite.methods.metakd.recipe import MetaKDRecipe, recipe_for
from hrkd_lite.methods.metakd.scores import mean_pool
from hrkd_lite.methods.registry import Flag, MethodSpec, register
from hrkd_lite.methods.shared.context import RunContext, Step
from hrkd_lite.methods.shared.evaluation import accuracy, with_average
from hrkd_lite.methods.shared.metrics import write_metrics
from hrkd_lite.methods.shared.specs import classifier_from_spec, save_model_spec
from hrkd_lite.methods.shared.training import train_with_selection
from hrkd_lite.models import ModelOutput, MultiDomainClassifier
from hrkd_lite.models.factory import build_teacher
from hrkd_lite.train import load_weights
from hrkd_lite.utils import atomic_write_json, seed_everything

TEACHER_KEYS = ("prototypes", "use_sample_weights", "use_domain_loss", "domain_loss_weight",
                "teacher_weight_terms", "transferability_score", "token_mean_with_padding",
                "corruption_skip_cls", "head_input")


class MetaTeacher(nn.Module):
    """Shared-head classifier + domain-corruption head (docs/methods/meta_kd.md §3).

    ``forward(input_ids (B,T), attention_mask (B,T), token_type_ids, domains (B,) | int)`` returns
    (:class:`ModelOutput`, :class:`CorruptionOutput`); h̄ is the token mean of the model's own last
    layer over the tokens after [CLS] (``skip_cls=True``, the authors' code) or over all of them, padding
    included when ``include_padding`` (the authors' quirk §5.3).
    """

    def __init__(self, classifier: MultiDomainClassifier, num_domains: int, include_padding: bool = True,
                 dropout: float = 0.1, skip_cls: bool = True) -> None:
        super().__init__()
        self.classifier = classifier
        self.corruption = DomainCorruptionHead(classifier.config.hidden_size, num_domains, dropout)
        self.include_padding = include_padding
        self.skip_cls = skip_cls

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None,
                domains: torch.Tensor | int = 0) -> tuple[ModelOutput, CorruptionOutput]:
        out = self.classifier(input_ids, attention_mask, token_type_ids, domain=0)
        pooled = mean_pool(out.hidden_states[-1], attention_mask, include_padding=self.include_padding,
                           skip_cls=self.skip_cls)
        return out, self.corruption(pooled, domains)


@dataclass
class MetaTeacherBank:
    """Frozen meta-teacher checkpoints: ``bank[d]`` is the checkpoint selected for domain d."""

    folder: Path
    info: dict
    device: torch.device

    def __post_init__(self) -> None:
        self._models: dict[str, MetaTeacher] = {}

    @property
    def accuracy(self) -> dict:
        return self.info["accuracy"]

    def __getitem__(self, d: int) -> MetaTeacher:
        """The frozen checkpoint selected for domain id d (best dev on d; best mean if d was left out)."""
        return self.load(self.info["weights"][self.info["domains"][d]])

    def load(self, fname: str = "best_mean.safetensors") -> MetaTeacher:
        """A frozen checkpoint of this folder by file name (default: best mean dev accuracy)."""
        if fname not in self._models:
            spec = json.loads((self.folder / "model.json").read_text())
            model = MetaTeacher(classifier_from_spec(spec), spec["corruption_domains"], spec["include_padding"],
                                skip_cls=spec.get("skip_cls", False))
            load_weights(self.folder / fname, model)
            model.to(self.device).eval()
            for p in model.parameters():
                p.requires_grad_(False)
            self._models[fname] = model
        return self._models[fname]


def _teacher_cfg_dict(cfg: MetaKDConfig) -> dict:
    return {k: getattr(cfg, k) for k in TEACHER_KEYS}


def signature(obj: object) -> str:
    """8 hex characters identifying a JSON-able value (folder names for non-default switches)."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def meta_teacher_name(cfg: MetaKDConfig, base: str = "meta_teacher") -> str:
    """``base`` for the default switches of ``cfg.teacher_variant``, else ``base_<signature>``."""
    mine = _teacher_cfg_dict(cfg)
    default = _teacher_cfg_dict(teacher_config_for(cfg.teacher_variant))
    return base if mine == default else f"{base}_{signature(mine)}"


def train_meta_teacher(ctx: RunContext, cfg: MetaKDConfig | None = None, name: str = "meta_teacher",
                       exclude: int | None = None, only: Sequence[int] | None = None,
                       recipe: MetaKDRecipe | None = None) -> MetaTeacherBank:
    """Fine-tune the meta-teacher on every domain except ``exclude`` (or on ``only``) into ``ctx.out_dir/name``.

    ``recipe`` defaults to ``recipe_for(ctx.profile, K)`` (batch, sampler, lr, epochs, checkpoint choice).
    Domains it does not train on (zero-shot, or a single-domain baseline) get the best-mean checkpoint.
    The baseline teachers use this same loop with ``teacher_config_for("mix" | "single")`` (plain CE:
    no t_i, no corruption loss), so meta vs mix differ only in the Meta-KD ingredients.

    Reuses ``name/meta_teacher.json`` when present and written with the same switches; raises
    HrkdError when the switches differ (choose another ``name``).
    """
    cfg = cfg or MetaKDConfig()
    folder = ctx.out_dir / name
    K = len(ctx.domains)
    doms = sorted(set(only)) if only is not None else [d for d in range(K) if d != exclude]
    rc = recipe or recipe_for(ctx.profile, K)
    teacher_recipe = {k: v for k, v in rc.to_dict().items() if k.startswith("teacher_")}
    want = {**_teacher_cfg_dict(cfg), "trained_on": [ctx.domains[d] for d in doms], "recipe": teacher_recipe}
    info_path = folder / "meta_teacher.json"
    if info_path.is_file():
        info = json.loads(info_path.read_text())
        if info["config"] != want:
            raise HrkdError(f"{folder} holds a meta-teacher trained with {info['config']}, not {want}; "
                            f"use another name/out folder")
        return MetaTeacherBank(folder, info, ctx.device)
    C, prof = len(ctx.data.label_names), ctx.profile
    if len(doms) < 2 and cfg.use_sample_weights:
        raise HrkdError(f"prototype scores need >= 2 training domains, got {[ctx.domains[d] for d in doms]}")
    scores = None
    if cfg.use_sample_weights:
        ps = prototype_scores(ctx, cfg, doms)
        scores = [None if s is None else s.to(ctx.device) for s in scores_by_domain(ps, doms, K)]
    seed_everything(ctx.seed)
    clf = build_teacher(prof, C, num_domains=K, shared_head=True, head_input=cfg.head_input)
    model = MetaTeacher(clf, K, cfg.token_mean_with_padding, skip_cls=cfg.corruption_skip_cls).to(ctx.device)
    gen = torch.Generator().manual_seed(ctx.seed)

    def loss_fn(step: Step):
        parts = [ctx.batch(d, "train", idx) for d, idx in step]
        b = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        dom = torch.cat([torch.full((len(idx),), d, dtype=torch.long) for d, idx in step]).to(ctx.device)
        out, corr = model(b["input_ids"], b["attention_mask"], b["token_type_ids"], dom)
        ce = F.cross_entropy(out.logits, b["labels"], reduction="none")
        dom_ce = corruption_loss(corr.domain_logits, dom, gen) if cfg.use_domain_loss else None
        t = None
        if scores is not None:
            t = torch.cat([scores[d][torch.as_tensor(idx, device=ctx.device)] for d, idx in step])
        loss = meta_teacher_loss(ce, dom_ce, t, cfg.domain_loss_weight, cfg.teacher_weight_terms)
        extras = {"ce": float(ce.detach().mean())}
        if dom_ce is not None:
            extras["domain_ce"] = float(dom_ce.detach().mean())
        return loss, extras

    mixed = rc.teacher_selection == "mixed_dev"
    res = train_with_selection(ctx, model, clf, loss_fn, doms, name=name, epochs=rc.teacher_epochs,
                               lr=rc.teacher_lr, head_of=lambda d: 0, batch_size=rc.teacher_batch_size,
                               sampler_mode="pooled" if rc.teacher_sampler == "pooled" else "auto",
                               select="mixed" if mixed else "per_domain")
    weights = {ctx.domains[d]: "best_mean.safetensors" if mixed else f"best_{ctx.domains[d]}.safetensors"
               for d in doms}
    dev, test = dict(res["dev"]), dict(res["test"])
    unseen = [d for d in range(K) if d not in doms]
    if unseen:  # zero-shot / single-domain: unseen domains get the best-mean weights
        res["trainer"].load_best(None)
    for d in unseen:
        weights[ctx.domains[d]] = "best_mean.safetensors"
        dev[ctx.domains[d]] = accuracy(clf, ctx, d, "dev", 0)
        test[ctx.domains[d]] = accuracy(clf, ctx, d, "test", 0)
    save_model_spec(folder, clf, {"corruption_domains": K, "include_padding": cfg.token_mean_with_padding,
                                  "skip_cls": cfg.corruption_skip_cls})
    info = {"config": want, "domains": list(ctx.domains), "trained_on": [ctx.domains[d] for d in doms],
            "weights": weights, "accuracy": {"dev": with_average(dev), "test": with_average(test)},
            "history": [{k: h[k] for k in h if k in ("step", "loss", "ce", "domain_ce")}
                        for h in res["result"].history]}
    atomic_write_json(info_path, info)
    for f in folder.glob("*.safetensors"):  # keep only the selected checkpoints (no optimiser states)
        if f.name not in {*weights.values(), "best_mean.safetensors"}:
            f.unlink()
    return MetaTeacherBank(folder, info, ctx.device)


def run_meta_teacher(ctx: RunContext, exclude_domain: str | None = None, **switches) -> dict:
    """``run meta-teacher``: train the meta-teacher, write ``metrics.json`` (teacher accuracy per domain)."""
    cfg = MetaKDConfig(**switches)
    exclude = None if not exclude_domain else ctx.data.domain_index(exclude_domain)
    bank = train_meta_teacher(ctx, cfg, meta_teacher_name(cfg), exclude)
    acc = bank.accuracy
    strip = {s: {k: v for k, v in acc[s].items() if k != "average"} for s in ("dev", "test")}
    first = bank[0]
    return write_metrics(ctx, "meta-teacher", strip["dev"], strip["test"], first.classifier,
                         {"metakd": cfg.to_dict(), "exclude_domain": exclude_domain,
                          "teacher_dir": str(bank.folder)})


TEACHER_FLAGS = [
    Flag("prototypes", str, "class", "class-wise (paper/OneFlow) or domain-wise (authors/EasyNLP) prototypes",
         PROTOTYPES),
    Flag("use_sample_weights", bool, True, "weight L_MT by the prototype scores t_i (true/false)"),
    Flag("use_domain_loss", bool, True, "shuffled-domain corruption loss (authors' script: off)"),
    Flag("domain_loss_weight", float, 0.5, "λ_d of the corruption loss (OneFlow 0.1)"),
    Flag("teacher_weight_terms", str, "both", "t_i on CE and domain term, or domain term only (OneFlow)",
         TEACHER_WEIGHT_TERMS),
    Flag("transferability_score", str, "code", "t_i formula: code ½[own + others] or paper [M]", SCORE_FORMULAS),
    Flag("token_mean_with_padding", bool, True, "h(x) averages padding too (code quirk)"),
    Flag("corruption_skip_cls", bool, True, "corruption heads average the tokens after [CLS] (authors)"),
    Flag("head_input", str, "relu", "task head input: relu(pooled), no dropout (authors) or dropout(pooled)",
         HEAD_INPUTS),
]


register(MethodSpec("meta-teacher", run_meta_teacher,
                    "Meta-KD meta-teacher: all domains, prototype-score weights, domain-corruption loss",
                    [*TEACHER_FLAGS, Flag("exclude_domain", str, None, "train without this domain (zero-shot)")]))

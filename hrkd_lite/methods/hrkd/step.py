"""One HRKD training step (``docs/methods/hrkd.md`` §2): the student's trainable state, per-domain terms,
prototypes, the MetaGraph's weights and the total loss.

Per step (one batch per domain from the multi-domain sampler):

1. for each domain d: teacher T_d (frozen, d's own best-dev stage-A checkpoint) and student S_d (head d; the
   shared student runs once over all domains' batches, ``student_outputs``); projected student states fit_m(H^S_d[m]), m = 0..M; per-example terms L_emb, L_attn(m), L_hid(m),
   L_pred (§2.1);
2. prototypes P (G, M+1, D, H) from the projected states (§2.2); MetaGraph → weights w (G, M+1, D)
   (§2.3–2.4; graph in train mode = GAT dropout active, as the code);
3. L = mean_g Σ_d [Σ_m w·T + (1/D)·L_pred] (§2.5) — or the multi-domain TinyBERT-KD sum without graph;
4. the weights, hierarchical ratios and attention of the step go to ``recorded.npz`` (§9 "never fake").
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn

from hrkd_lite.distill.losses import soft_cross_entropy
from hrkd_lite.distill.projections import FitDenses
from hrkd_lite.distill.tinybert import tinybert_layer_losses
from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.hrkd import (
    DomainTerms,
    HRKDConfig,
    MetaGraph,
    domain_prototypes,
    group_means,
    hrkd_total_loss,
    stack_domains,
)
from hrkd_lite.methods.shared.context import RunContext, new_student
from hrkd_lite.methods.shared.teachers import CachedTeachers, TeacherBank


class HRKDStudent(nn.Module):
    """All trainable (and checkpointed) state of stage B: classifier, M+1 projections, the MetaGraph.

    The graph lives here so checkpoints (resume) restore its random init too; with
    ``graph_trainable=False`` its parameters have ``requires_grad=False`` and no optimiser sees them.
    """

    def __init__(self, classifier: nn.Module, fit: FitDenses, graph: MetaGraph | None) -> None:
        super().__init__()
        self.classifier, self.fit, self.graph = classifier, fit, graph


@dataclass
class StepOutput:
    """One HRKD step's loss and what is recorded: graph (``GraphOutput.record()`` or None), group-mean
    terms layer_terms (G, L, D) and pred_terms (G, D); prototypes P and GAT inputs feat (G, L, D, H),
    detached; the weights w (G, L, D) as used, with their graph (None without graph)."""

    loss: Any
    graph: dict[str, torch.Tensor] | None
    layer_terms: torch.Tensor
    pred_terms: torch.Tensor
    prototypes: torch.Tensor | None = None
    features: torch.Tensor | None = None
    weights: torch.Tensor | None = None  # (G, L, D), differentiable (the loss used these)
    prototype_groups: dict[str, torch.Tensor] | None = None  # {"padding", "masked"}: (G, L, D, H), detached


def domain_terms(student: HRKDStudent, s_out: Any, t_out: Any, indices: dict, cfg: HRKDConfig,
                 attention_mask: torch.Tensor, other_masking: bool = True,
                 ) -> tuple[DomainTerms, torch.Tensor | None, torch.Tensor | None]:
    """Per-example terms of one domain's batch (docs/methods/hrkd.md §2.1), its prototypes (G, L, H) (§2.2; None
    without graph) and, detached, the prototypes under the other masking choice (for the notebook's
    recomputation; never in the loss; None unless ``other_masking``: only steps that are snapshotted need them).

    The student's states are projected once (fit_m) and reused for the hidden MSE and the prototypes.
    """
    proj = [student.fit[m](s_out.hidden_states[i]) for m, i in enumerate(indices["hid_student"])]
    proxy = SimpleNamespace(hidden_states=proj, attention_scores=s_out.attention_scores)
    proxy_idx = {**indices, "hid_student": list(range(len(proj)))}
    raw = tinybert_layer_losses(proxy, t_out, None, proxy_idx, reduction="none")
    pred = soft_cross_entropy(s_out.logits, t_out.logits, cfg.temperature, reduction="none")  # (B,) CE
    if cfg.soft_ce_reduction == "mean_classes":
        pred = pred / s_out.logits.shape[-1]  # the code's mean over classes (÷ C)
    terms = DomainTerms(emb=raw["emb"], attn=torch.stack(raw["attn"]), hid=torch.stack(raw["hid"]), pred=pred)
    if not cfg.use_graph:
        return terms, None, None
    protos = domain_prototypes(proj, attention_mask, masked=cfg.prototype_masked,
                               group_size=cfg.prototype_group_size, detach=cfg.detach_prototypes,
                               split=cfg.prototype_group_split)
    if not other_masking:
        return terms, protos, None
    with torch.no_grad():
        other = domain_prototypes(proj, attention_mask, masked=not cfg.prototype_masked,
                                  group_size=cfg.prototype_group_size, detach=True,
                                  split=cfg.prototype_group_split)
    return terms, protos, other


def student_outputs(student: HRKDStudent, batches: list[tuple]) -> list[SimpleNamespace]:
    """The shared student on every domain's batch in ONE forward call (rows of domain d use head d), split
    back per domain: ``logits`` (B_d, C), ``hidden_states`` / ``attention_scores`` per layer (B_d, ...).

    The encoder is shared, so one call over the stacked batches computes exactly what D calls would, with
    D times fewer (and larger) kernel launches."""
    sizes = [b["input_ids"].shape[0] for _, b, *_ in batches]
    cat = {k: torch.cat([b[k] for _, b, *_ in batches]) for k in ("input_ids", "attention_mask", "token_type_ids")}
    domain = torch.cat([torch.full((n,), d, dtype=torch.long, device=cat["input_ids"].device)
                        for (d, *_), n in zip(batches, sizes)])
    out = student.classifier(cat["input_ids"], cat["attention_mask"], cat["token_type_ids"], domain=domain)
    parts = [list(zip(*(t.split(sizes) for t in group))) for group in
             ([out.logits], out.hidden_states, out.attention_scores)]
    return [SimpleNamespace(logits=parts[0][k][0], hidden_states=list(parts[1][k]),
                            attention_scores=list(parts[2][k])) for k in range(len(batches))]


def hrkd_step(student: HRKDStudent, teachers: TeacherBank | CachedTeachers, batches: list[tuple], indices: dict,
              cfg: HRKDConfig, other_masking: bool = True) -> StepOutput:
    """The HRKD loss of one step; ``batches`` = [(domain index, batch dict)] in domain order (§3), or
    [(domain index, batch dict, training row indices)] when ``teachers`` is a :class:`CachedTeachers`.
    ``other_masking``: also return the prototypes under the other masking choice (``prototype_groups``;
    the runner asks for them only on the steps it snapshots). The loss does not depend on it."""
    terms, protos, others = [], [], []
    for (d, b, *rows), s_out in zip(batches, student_outputs(student, batches)):
        t_out = teachers(d, b, *rows)
        tm, pm, po = domain_terms(student, s_out, t_out, indices, cfg, b["attention_mask"], other_masking)
        terms.append(tm)
        protos.append(pm)
        others.append(po)
    group = cfg.prototype_group_size if cfg.use_graph else None
    layer_terms, pred_terms = group_means(terms, group, cfg.prototype_group_split)
    weights, record, p_all, feats, groups = None, None, None, None, None
    if cfg.use_graph:
        if student.graph is None:
            raise HrkdError("use_graph=True but the student has no MetaGraph")
        student.graph.train(cfg.gat_dropout_in_train and student.training)
        p_all = stack_domains(protos)  # (G, L, D, H)
        g_out = student.graph(p_all)  # weights (G, L, D)
        weights, record, feats = g_out.weights, g_out.record(), g_out.features.detach()
        p_all = p_all.detach()
        if other_masking:
            p_other = stack_domains(others)
            groups = {"masked": p_all, "padding": p_other} if cfg.prototype_masked else \
                {"padding": p_all, "masked": p_other}
    loss = hrkd_total_loss(layer_terms, pred_terms, weights, use_graph=cfg.use_graph,
                           hidden_ratio=cfg.hidden_ratio, pred_ratio=cfg.pred_ratio)
    return StepOutput(loss, record, layer_terms.detach(), pred_terms.detach(), p_all, feats, weights, groups)


def build_hrkd_student(ctx: RunContext, cfg: HRKDConfig, teacher_hidden: int) -> HRKDStudent:
    """Shared student (per-domain heads), M+1 ``fit_denses`` N(0, 0.02), and the MetaGraph (§1.2)."""
    D = len(ctx.domains)
    clf = new_student(ctx, num_domains=D, shared_head=False)  # seeds ctx.seed
    L = clf.config.num_layers + 1
    fit = FitDenses(clf.config.hidden_size, teacher_hidden, L)
    graph = MetaGraph(teacher_hidden, L, D, cfg) if cfg.use_graph else None
    return HRKDStudent(clf, fit, graph).to(ctx.device)

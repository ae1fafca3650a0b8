"""Derive a compact architecture from the learned α and re-instantiate it as a small network.

Derivation (``derive_exclude_none=True``, the PyTorch genotype parser): depth K = argmax α_K; for every
node keep the 2 incoming edges whose best non-``none`` op probability softmax(α_e) is largest, and give
each kept edge that op. With ``derive_exclude_none=False`` (the TF loader) the probabilities are
softmax(α_e / 0.2) and ``none`` may win.

The derived network has the supernet's stem (or the exported d-wide tables for ``stem="table"``),
K cells of 3 nodes with 2 fixed ops each, the attentive node sum, and the head of depth K. It can be
warm-started from the supernet (every kept op, node weight, head and stem copied).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn

from hrkd_lite.methods.adabert.ops import NONE_INDEX, PRIMITIVES, make_op, op_parameters
from hrkd_lite.methods.adabert.supernet import Supernet, TableStem, edge_inputs, masked_mean


@dataclass
class Genotype:
    """depth K and, per node, its two kept edges as (op name, input index); inputs 0, 1 are the cell's
    inputs c_{k-2}, c_{k-1}, 2 + j is node j."""

    depth: int
    cells: list[list[tuple[str, int]]]

    def to_dict(self) -> dict:
        return {"depth": self.depth, "cells": [[list(e) for e in node] for node in self.cells]}

    @classmethod
    def from_dict(cls, d: dict) -> Genotype:
        return cls(int(d["depth"]), [[(str(o), int(i)) for o, i in node] for node in d["cells"]])

    def describe(self) -> str:
        inputs = lambda i: ("c_{k-2}", "c_{k-1}")[i] if i < 2 else f"node{i - 2}"  # noqa: E731
        nodes = "; ".join(f"node{j} = " + " + ".join(f"{o}({inputs(i)})" for o, i in node)
                          for j, node in enumerate(self.cells))
        return f"K = {self.depth}: {nodes}"

    def as_tuple(self) -> tuple:
        return (self.depth, tuple(tuple(node) for node in self.cells))


def derive(alpha_edges: torch.Tensor, alpha_depth: torch.Tensor, depths: list[int], nodes: int = 3,
           exclude_none: bool = True, keep: int = 2) -> Genotype:
    """Genotype from α (E, |O|) and α_K (n_depths,): top-``keep`` edges per node, argmax op."""
    a = alpha_edges.detach().float().cpu()
    probs = torch.softmax(a if exclude_none else a / 0.2, dim=-1)
    if exclude_none:
        probs[:, NONE_INDEX] = -1.0
    cells, e = [], 0
    for j in range(nodes):
        cand = []
        for i in range(2 + j):
            best = int(probs[e].argmax())
            cand.append((float(probs[e, best]), i, PRIMITIVES[best]))
            e += 1
        top = sorted(cand, key=lambda c: (-c[0], c[1]))[:keep]
        cells.append([(op, i) for _, i, op in sorted(top, key=lambda c: c[1])])
    return Genotype(depths[int(alpha_depth.detach().argmax())], cells)


class DerivedCell(nn.Module):
    """A fixed cell: node j = Σ over its kept edges op(x_input); output Σ_j softmax(ω)_j·node_j."""

    def __init__(self, d: int, nodes: list[list[tuple[str, int]]]):
        super().__init__()
        self.spec = nodes
        self.ops = nn.ModuleList(nn.ModuleList(make_op(o, d) for o, _ in node) for node in nodes)
        self.node_logits = nn.Parameter(torch.zeros(len(nodes)))

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = [s0, s1]
        for node, ops in zip(self.spec, self.ops):
            states.append(sum(op(states[i], mask) for (_, i), op in zip(node, ops)))
        w = torch.softmax(self.node_logits, 0)
        return sum(w[j] * states[2 + j] for j in range(len(self.spec)))


class DerivedNet(nn.Module):
    """stem -> K derived cells -> head r_K = tanh(Σ_k softmax(ω)_k·meanpool(c_k)) -> logits (B, C)."""

    def __init__(self, genotype: Genotype, stem: nn.Module, d: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.genotype = genotype
        self.stem = stem
        self.cells = nn.ModuleList(DerivedCell(d, genotype.cells) for _ in range(genotype.depth))
        self.layer_logits = nn.Parameter(torch.zeros(genotype.depth + 1))
        self.classifier = nn.Linear(d, num_labels)
        self.dropout = nn.Dropout(dropout)

    def pooled(self, ids: torch.Tensor, mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
               ) -> list[torch.Tensor]:
        """meanpool_t(c_k) for k = 0..K (c_0 the stem): K+1 tensors (B, d)."""
        x = self.stem(ids, token_type_ids).transpose(1, 2)
        states = [x, x]
        for cell in self.cells:
            states.append(cell(states[-2], states[-1], mask))
        return [masked_mean(c, mask) for c in states[1:]]

    def head(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        w = torch.softmax(self.layer_logits, 0)
        return self.classifier(self.dropout(torch.tanh(sum(w[k] * p for k, p in enumerate(pooled)))))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
                ) -> torch.Tensor:
        """ids, mask (B, T) -> logits (B, C)."""
        return self.head(self.pooled(ids, mask, token_type_ids))


def build_derived(supernet: Supernet, genotype: Genotype, warm_start: bool = True) -> DerivedNet:
    """Re-instantiate ``genotype`` at the supernet's width; ``warm_start`` copies every kept weight.

    The stem is always taken from the supernet (the frozen teacher embeddings + projection, or the
    exported tables); without warm start the rest is freshly initialised.
    """
    cfg = supernet.cfg
    stem = supernet.stem.export() if isinstance(supernet.stem, TableStem) else copy.deepcopy(supernet.stem)
    C = supernet.probes[0].out_features
    net = DerivedNet(genotype, stem, cfg.hidden, C, cfg.head_dropout).to(supernet.alpha_edges.device)
    if not warm_start:
        if not isinstance(supernet.stem, TableStem):
            for mod in (net.stem.proj, net.stem.norm):
                mod.reset_parameters()
        return net
    index = {edge: e for e, edge in enumerate(edge_inputs(cfg.nodes))}
    for k, cell in enumerate(net.cells):
        src = supernet.cells[k]
        cell.node_logits.data.copy_(src.node_logits.data)
        for j, node in enumerate(genotype.cells):
            for (op, i), mod in zip(node, cell.ops[j]):
                mod.load_state_dict(src.mixed[index[(j, i)]].ops[PRIMITIVES.index(op)].state_dict())
    h = cfg.depths.index(genotype.depth)
    net.layer_logits.data.copy_(supernet.heads.layer_logits[h].data)
    clf = supernet.heads.classifiers[0 if len(supernet.heads.classifiers) == 1 else h]
    net.classifier.load_state_dict(clf.state_dict())
    return net


def derived_parameter_count(genotype: Genotype, d: int, num_labels: int, stem_parameters: int) -> int:
    """Parameters of a :class:`DerivedNet` from its configuration alone (no weights):
    stem + K·(Σ kept ops' SIZE + nodes) + (K+1) head layer weights + d·C + C."""
    per_cell = sum(op_parameters(o, d) for node in genotype.cells for o, _ in node) + len(genotype.cells)
    return stem_parameters + genotype.depth * per_cell + genotype.depth + 1 + d * num_labels + num_labels


def stem_parameter_count(kind: str, d: int, vocab: int, positions: int, type_vocab: int, teacher_hidden: int
                         ) -> int:
    """Deployed stem parameters: ``teacher`` = the teacher's embedding module ((V+P+S)·H + 2H) + Linear
    (H·d + d) + LayerNorm (2d); ``table`` = exported tables (V + P)·d + LayerNorm 2d."""
    if kind == "table":
        return (vocab + positions) * d + 2 * d
    H = teacher_hidden
    return (vocab + positions + type_vocab) * H + 2 * H + H * d + d + 2 * d

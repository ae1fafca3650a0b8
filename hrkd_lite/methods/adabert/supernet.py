"""The AdaBERT supernet: stem -> K_max search cells -> one head per candidate depth, plus student probes.

Shapes: B batch, T tokens, d = ``cfg.hidden`` channels, E = 9 edges, |O| = 10 ops, C classes.

- **Stem** (``stem="teacher"``, PyTorch code): the fine-tuned teacher's embedding module, frozen and run
  without gradient, -> Linear(H_t -> d) -> LayerNorm -> dropout, the [CLS] position zeroed.
  (``stem="table"``, TF code): trainable word and position tables (initialised from the teacher's)
  -> Linear(H_t -> d) -> LayerNorm -> dropout; after the search the projected d-wide tables are exported.
- **Cell k** takes c_{k-2}, c_{k-1} (the first cell gets the stem output twice, a single-sentence task);
  node j = Σ_{i<j} MixedOp_{i,j}(x_i) over the 2 inputs and the earlier nodes (2 + 3 + 4 = 9 edges);
  output = Σ_j softmax(ω_cell)_j·x_j. The architecture logits α (E, |O|) are shared by every cell; the
  op weights are per cell.
- **Head for depth K**: r_K = tanh(Σ_{k=0..K} softmax(ω_K)_k·meanpool_t(c_k)), dropout,
  logits_K = W_K·r_K (``depth_heads="shared"``: one W for all K). All K_max cells always run.
- **Student probe i** (i = 0..K_max): a linear classifier on tanh(meanpool_t(c_i)).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hrkd_lite.methods.adabert.config import AdaBERTConfig
from hrkd_lite.methods.adabert.ops import PRIMITIVES, MixedOp
from hrkd_lite.models.bert import BertEmbeddings


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens: x (B, d, T), mask (B, T) -> (B, d)."""
    m = mask.unsqueeze(1).to(x.dtype)
    return (x * m).sum(-1) / m.sum(-1).clamp_min(1.0)


def edge_inputs(nodes: int) -> list[tuple[int, int]]:
    """(node j, input i) of every edge in order: inputs 0, 1 are c_{k-2}, c_{k-1}; 2 + j' is node j'."""
    return [(j, i) for j in range(nodes) for i in range(2 + j)]


class TeacherStem(nn.Module):
    """Frozen teacher embeddings (B, T) -> (B, T, H_t), then Linear -> LN -> dropout, [CLS] zeroed."""

    def __init__(self, embeddings: BertEmbeddings, d: int, dropout: float, zero_cls: bool = True):
        super().__init__()
        self.embeddings = embeddings
        for p in self.embeddings.parameters():
            p.requires_grad_(False)
        self.proj = nn.Linear(embeddings.word_embeddings.embedding_dim, d)
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)
        self.zero_cls = zero_cls

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        self.embeddings.eval()
        with torch.no_grad():
            e = self.embeddings(ids, token_type_ids)
        x = self.dropout(self.norm(self.proj(e)))
        if self.zero_cls:
            x = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:]], dim=1)
        return x


class TableStem(nn.Module):
    """Trainable word + position tables (H_t wide) -> Linear -> LN -> dropout (the TF stem).

    :meth:`export` folds the projection into the tables: word' = W·A^T (V, d), pos' = P·A^T + b (P, d),
    so the deployed stem is two d-wide tables + LayerNorm.
    """

    def __init__(self, embeddings: BertEmbeddings, d: int, dropout: float):
        super().__init__()
        self.word = nn.Embedding.from_pretrained(embeddings.word_embeddings.weight.detach().clone(), freeze=False)
        self.pos = nn.Embedding.from_pretrained(embeddings.position_embeddings.weight.detach().clone(),
                                                freeze=False)
        self.proj = nn.Linear(self.word.embedding_dim, d)
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.dropout(self.norm(self.proj(self.word(ids) + self.pos(pos).unsqueeze(0))))

    @torch.no_grad()
    def export(self) -> ExportedStem:
        stem = ExportedStem(self.word.num_embeddings, self.pos.num_embeddings, self.proj.out_features,
                            self.dropout.p)
        stem.word.weight.copy_(self.proj(self.word.weight) - self.proj.bias)
        stem.pos.weight.copy_(self.proj(self.pos.weight))
        stem.norm.load_state_dict(self.norm.state_dict())
        return stem


class ExportedStem(nn.Module):
    """Deployed TF-style stem: d-wide word and position tables + LayerNorm + dropout."""

    def __init__(self, vocab: int, positions: int, d: int, dropout: float):
        super().__init__()
        self.word = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(positions, d)
        self.norm = nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        return self.dropout(self.norm(self.word(ids) + self.pos(pos).unsqueeze(0)))


def make_stem(cfg: AdaBERTConfig, embeddings: BertEmbeddings) -> nn.Module:
    if cfg.stem == "table":
        return TableStem(embeddings, cfg.hidden, cfg.stem_dropout)
    return TeacherStem(embeddings, cfg.hidden, cfg.stem_dropout)


class SearchCell(nn.Module):
    """One cell: 9 mixed edges, 3 nodes, attentive node sum. forward(s0, s1 (B, d, T), mask, y (E, |O|))."""

    def __init__(self, d: int, nodes: int = 3):
        super().__init__()
        self.nodes = nodes
        self.edges = edge_inputs(nodes)
        self.mixed = nn.ModuleList(MixedOp(d) for _ in self.edges)
        self.node_logits = nn.Parameter(torch.zeros(nodes))  # ω_cell

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, mask: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        states = [s0, s1]
        e = 0
        for j in range(self.nodes):
            total = 0
            for i in range(2 + j):
                total = total + self.mixed[e](states[i], mask, y[e])
                e += 1
            states.append(total)
        w = torch.softmax(self.node_logits, 0)
        return sum(w[j] * states[2 + j] for j in range(self.nodes))


class DepthHeads(nn.Module):
    """r_K = tanh(Σ_{k<=K} softmax(ω_K)_k·pooled_k), logits_K = W_K·dropout(r_K) for every candidate K."""

    def __init__(self, d: int, num_labels: int, depths: list[int], shared: bool, dropout: float):
        super().__init__()
        self.depths = list(depths)
        self.layer_logits = nn.ParameterList(nn.Parameter(torch.zeros(k + 1)) for k in self.depths)
        self.classifiers = nn.ModuleList(nn.Linear(d, num_labels) for _ in (self.depths[:1] if shared else self.depths))
        self.dropout = nn.Dropout(dropout)

    def head(self, pooled: list[torch.Tensor], index: int) -> torch.Tensor:
        """Logits (B, C) of candidate ``self.depths[index]`` from pooled cell outputs [(B, d)] k = 0..K."""
        K = self.depths[index]
        w = torch.softmax(self.layer_logits[index], 0)
        r = torch.tanh(sum(w[k] * pooled[k] for k in range(K + 1)))
        clf = self.classifiers[0 if len(self.classifiers) == 1 else index]
        return clf(self.dropout(r))

    def forward(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        """(n_depths, B, C)."""
        return torch.stack([self.head(pooled, i) for i in range(len(self.depths))])


@dataclass
class SupernetOutput:
    """logits (n_depths, B, C) one per candidate depth; probe_logits (K_max + 1, B, C) student probes on
    layers 0..K_max; pooled: K_max + 1 tensors (B, d), meanpool of c_0 (stem) .. c_{K_max}."""

    logits: torch.Tensor
    probe_logits: torch.Tensor
    pooled: list[torch.Tensor]


class Supernet(nn.Module):
    """Stem, K_max search cells, depth heads, student probes, and the architecture logits.

    Architecture parameters (trained by the same loss, their own optimiser group):
    ``alpha_edges`` (E, |O|) shared by all cells, ``alpha_depth`` (n_depths,).
    """

    def __init__(self, cfg: AdaBERTConfig, embeddings: BertEmbeddings, num_labels: int):
        super().__init__()
        self.cfg = cfg
        d = cfg.hidden
        self.stem = make_stem(cfg, embeddings)
        self.cells = nn.ModuleList(SearchCell(d, cfg.nodes) for _ in range(cfg.max_depth))
        self.heads = DepthHeads(d, num_labels, cfg.depths, cfg.depth_heads == "shared", cfg.head_dropout)
        self.probes = nn.ModuleList(nn.Linear(d, num_labels) for _ in range(cfg.max_depth + 1))
        self.alpha_edges = nn.Parameter(1e-3 * torch.randn(cfg.num_edges, len(PRIMITIVES)))
        self.alpha_depth = nn.Parameter(torch.zeros(len(cfg.depths)))

    def arch_parameters(self) -> list[nn.Parameter]:
        return [self.alpha_edges, self.alpha_depth]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch and p.requires_grad]

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, edge_y: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> SupernetOutput:
        """ids, mask (B, T); edge_y (E, |O|) sampled one-hot per edge (the same for every cell)."""
        x = self.stem(ids, token_type_ids).transpose(1, 2)  # (B, d, T)
        states = [x, x]
        for cell in self.cells:
            states.append(cell(states[-2], states[-1], mask, edge_y))
        outs = states[1:]  # c_0 (stem) .. c_{K_max}
        pooled = [masked_mean(c, mask) for c in outs]
        probe = torch.stack([p(torch.tanh(h)) for p, h in zip(self.probes, pooled)])
        return SupernetOutput(self.heads(pooled), probe, pooled)

"""MetaGraph: prototypes → (hierarchical compare-aggregate) → one domain GAT per layer → domain weights.

Method note ``docs/methods/hrkd.md`` §2.3–2.4. Input P (L, D, H) with L = M + 1 layers (0 = embeddings); output w (L, D), each row a
softmax over domains, plus what the notebook records: hierarchical ratios, reference attention and the
GATs' attention. With ``graph_trainable=False`` (reference code, docs/methods/hrkd.md §2.6) every parameter has
``requires_grad=False``: the graph stays at its random Xavier init, yet w still changes with the
prototypes and its gradient still reaches the student through them (unless detached).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch import Tensor, nn

from hrkd_lite.errors import HrkdError
from hrkd_lite.methods.hrkd.compare_aggregate import CompareAggregate
from hrkd_lite.methods.hrkd.config import HRKDConfig
from hrkd_lite.methods.hrkd.gat import DomainGAT


@dataclass
class GraphOutput:
    """One MetaGraph call (shapes for one group; a grouped call adds a leading G to each field).

    weights: (L, D) domain weights w_m, rows sum to 1 (differentiable w.r.t. the prototypes).
    features: (L, D, H) GAT inputs feat_m (differentiable).
    ratios: (L, D, L) hierarchical ratios a2 (row m over layers 0..m, zeros beyond; detached).
    reference_attention: (L, D, D) cross-domain attention A1 (NaN where not computed; detached).
    gat_attention: (L, heads, D, D) first GAT layer's attention per head (detached).
    gat_out_attention: (L, D, D) output GAT layer's attention (detached).
    """

    weights: Tensor
    features: Tensor
    ratios: Tensor
    reference_attention: Tensor
    gat_attention: Tensor
    gat_out_attention: Tensor

    def record(self) -> dict[str, Tensor]:
        """Detached copies of every field but ``features`` (for :class:`~hrkd_lite.methods.hrkd.recorder.Recorder`)."""
        return {f.name: getattr(self, f.name).detach() for f in fields(self) if f.name != "features"}


class MetaGraph(nn.Module):
    """The domain-relational graph of docs/methods/hrkd.md §2.3–2.4.

    Args:
        hidden: prototype width H (the teacher's width: the student's states are projected).
        num_layers: L = M + 1 distilled layers (embeddings included).
        num_domains: D.
        config: the switches used here: hierarchical, reference_attention, aggregation, gat_* ,
            xavier_gain, w2_init, graph_trainable.

    The GATs are built before W1/W2 so that, for one seed, every ablation starts from the same GATs.
    """

    def __init__(self, hidden: int, num_layers: int, num_domains: int, config: HRKDConfig | None = None) -> None:
        super().__init__()
        cfg = config or HRKDConfig()
        self.hidden, self.num_layers, self.num_domains = hidden, num_layers, num_domains
        self.num_heads, self.xavier_gain = cfg.gat_heads, cfg.xavier_gain
        self.gats = nn.ModuleList(
            DomainGAT(hidden, heads=cfg.gat_heads, dropout=cfg.gat_dropout, alpha=cfg.gat_alpha,
                      gain=cfg.xavier_gain)
            for _ in range(num_layers)
        )
        self.compare: CompareAggregate | None = None
        if cfg.hierarchical:
            self.compare = CompareAggregate(
                hidden, num_layers, num_domains, reference_attention=cfg.reference_attention,
                aggregation=cfg.aggregation, gain=cfg.xavier_gain, w2_init=cfg.w2_init,
            )
        self.trainable = cfg.graph_trainable
        self.requires_grad_(cfg.graph_trainable)

    def _one(self, protos: Tensor) -> GraphOutput:
        L, D, H = protos.shape
        if (L, D, H) != (self.num_layers, self.num_domains, self.hidden):
            raise HrkdError(f"prototypes must be (layers={self.num_layers}, domains={self.num_domains}, "
                            f"hidden={self.hidden}), got {tuple(protos.shape)}")
        if self.compare is not None:
            ca = self.compare(protos)
            feats, ratios, ref_attn = ca.features, ca.ratios, ca.reference_attention
        else:
            feats = protos
            ratios = protos.new_full((L, D, L), float("nan")).detach()
            ref_attn = protos.new_full((L, D, D), float("nan")).detach()
        outs = [gat(feats[m]) for m, gat in enumerate(self.gats)]
        return GraphOutput(
            weights=torch.stack([o.weights for o in outs], dim=0),
            features=feats,
            ratios=ratios,
            reference_attention=ref_attn,
            gat_attention=torch.stack([o.head_attention for o in outs], dim=0).detach(),
            gat_out_attention=torch.stack([o.out_attention for o in outs], dim=0).detach(),
        )

    def forward(self, protos: Tensor) -> GraphOutput:
        """protos (L, D, H) → GraphOutput; protos (G, L, D, H) → GraphOutput with a leading G.

        Groups are independent graph calls (own dropout masks), as on separate GPUs (docs/methods/hrkd.md §7).
        """
        if protos.dim() == 3:
            return self._one(protos)
        if protos.dim() != 4:
            raise HrkdError(f"prototypes must be (L, D, H) or (G, L, D, H), got {tuple(protos.shape)}")
        outs = [self._one(p) for p in protos]
        return GraphOutput(**{f.name: torch.stack([getattr(o, f.name) for o in outs], dim=0)
                              for f in fields(GraphOutput)})

    def num_parameters(self) -> dict[str, int]:
        """Parameter counts: ``gat`` (all layers), ``compare`` (W1 + W2), ``total``."""
        gat = sum(p.numel() for p in self.gats.parameters())
        comp = sum(p.numel() for p in self.compare.parameters()) if self.compare is not None else 0
        return {"gat": gat, "compare": comp, "total": gat + comp}

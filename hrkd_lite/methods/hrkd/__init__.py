"""HRKD: hierarchical relational knowledge distillation across domains (``docs/methods/hrkd.md``).

- ``config``: :class:`HRKDConfig`, the fidelity switches of docs/methods/hrkd.md §10, and named presets (ablations).
- ``prototypes``: per-layer domain prototypes of the student's projected states (§2.2).
- ``compare_aggregate``: cross-domain reference attention + per-domain attention over layers (§2.3).
- ``gat``: the 8-head pyGAT over domains, one per layer (§2.4).
- ``graph``: :class:`MetaGraph` = compare-aggregate + GATs → domain weights (L, D).
- ``loss``: per-example terms → group means → the total loss of §2.5.
- ``recorder``: per-step weights, ratios and attention saved next to ``metrics.json``.
- ``step`` and ``runner`` (not imported here): one training step, and ``run hrkd`` (stage B).

Stage A (``run multi-teacher``) is ``hrkd_lite.methods.shared.teachers``; notebook 04's runs are
``hrkd_lite.experiments.nb04``.
"""

from hrkd_lite.methods.hrkd.compare_aggregate import CompareAggregate, CompareAggregateOutput
from hrkd_lite.methods.hrkd.config import PRESETS, HRKDConfig, preset
from hrkd_lite.methods.hrkd.gat import DomainGAT, GATOutput, GraphAttentionLayer
from hrkd_lite.methods.hrkd.graph import GraphOutput, MetaGraph
from hrkd_lite.methods.hrkd.loss import DomainTerms, HRKDLoss, group_means, hrkd_total_loss
from hrkd_lite.methods.hrkd.prototypes import domain_prototypes, group_slices, stack_domains
from hrkd_lite.methods.hrkd.recorder import Recorder, Recording

__all__ = [
    "PRESETS", "CompareAggregate", "CompareAggregateOutput", "DomainGAT", "DomainTerms", "GATOutput",
    "GraphAttentionLayer", "GraphOutput", "HRKDConfig", "HRKDLoss", "MetaGraph", "Recorder", "Recording",
    "domain_prototypes", "group_means", "group_slices", "hrkd_total_loss", "preset", "stack_domains",
]

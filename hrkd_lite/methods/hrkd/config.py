"""HRKD fidelity switches (``docs/methods/hrkd.md`` §10) with the reference code's defaults.

Every default follows the authors' code [C] (github.com/cheneydon/hrkd); the alternatives are the
our unverified reading of the paper's intent (NOT FOUND) or the ablations of the paper's tables (whose exact form is NOT FOUND, docs/methods/hrkd.md §8).
Presets name the variants the notebook compares (:data:`PRESETS`, :func:`preset`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from hrkd_lite.errors import HrkdError, check_choice

XAVIER_GAIN = 1.414  # gain of every Xavier-uniform init in the graph (the reference code's pyGAT value [C])
AGGREGATIONS = ("compare", "mean")
SOFT_CE_REDUCTIONS = ("mean_classes", "batchmean")  # names of distill.losses.soft_cross_entropy
CHECKPOINT_SELECTIONS = ("per_domain", "mean")
W2_INITS = ("reference", "per_matrix")


@dataclass(frozen=True)
class HRKDConfig:
    """All HRKD switches in one frozen dataclass (docs/methods/hrkd.md §10).

    Attributes:
        graph_trainable: False [C] = the MetaGraph (W1, W2, GATs) is in no optimiser and stays at its
            random Xavier init (docs/methods/hrkd.md §2.6); True = added to the student's AdamW (paper's intent, [P]).
        detach_prototypes: False [C] = gradients of the domain weights reach the student through the
            prototypes; True = prototypes are detached (weights act as constants).
        use_graph: True [C] = graph-weighted loss; False = multi-domain TinyBERT-KD (all weights 1, the
            prediction term summed over domains, not ÷D; docs/methods/hrkd.md §2.5).
        hierarchical: True [C] = compare-aggregate before each GAT (docs/methods/hrkd.md §2.3); False = feat_m = P[m].
        reference_attention: True [C] = step (a), cross-domain attention gives R_m; False = R_m = F_m
            ("w/o self-attention" ablation, our form; the paper's is NOT FOUND).
        aggregation: ``"compare"`` [C] = step (b) bilinear attention over layers 0..m; ``"mean"`` =
            uniform average of the raw prototypes of layers 0..m ("averaging" ablation, our form).
        gat_dropout: dropout of the GAT input, hidden features and attention coefficients (0.1 [C]).
        gat_dropout_in_train: True [C] = ``graph.train()`` every step (stochastic weights); False = eval.
        gat_heads: attention heads of the first GAT layer (8 [C]), concatenated.
        gat_alpha: LeakyReLU slope of the attention logits (0.2 [C]).
        xavier_gain: gain of every Xavier-uniform init in the graph (1.414 [C]).
        w2_init: ``"reference"`` [C] = each layer's (D, H, H) block of W2 initialised as one tensor, so
            torch's fans are (H·H, D·H) and the bound is small; ``"per_matrix"`` = fans (H, H) per domain.
        prototype_group_size: examples per prototype/graph group (8 = the per-GPU batch of the 4-GPU
            runs, docs/methods/hrkd.md §7); the loss is the mean over groups, as DDP's gradient averaging gives.
            None = one group with the whole per-domain batch.
        prototype_group_split: ``"strided"`` [C] = group j takes positions j, j+G, … of the domain's batch
            (each GPU's shard under the distributed sampler); ``"consecutive"`` = consecutive slices.
        prototype_masked: False [C] = mean over all positions, padding included (static padding);
            True = mean over real tokens only.
        soft_ce_reduction: ``"mean_classes"`` [C] = mean over batch *and* classes (CE ÷ C), no t²;
            ``"batchmean"`` = batch mean of the CE.
        temperature, hidden_ratio, pred_ratio: t, and the weights of the hidden and prediction parts
            of the loss (1, 1, 1 [C]).
        per_domain_teacher: True [C] = domain d's teacher is the stage-A checkpoint best on d's dev;
            False = one checkpoint best on the mean dev accuracy.
        checkpoint_selection: ``"per_domain"`` [C] = test each domain with its own best-dev student
            checkpoint; ``"mean"`` = one checkpoint best on the mean.
        record_every: record the graph's outputs every this many optimiser steps (1 = every step).

    Few-shot runs (docs/methods/hrkd.md §1.3) change the data, not these switches: ``--few-shot`` / ``data.few_shot``.
    """

    graph_trainable: bool = False
    detach_prototypes: bool = False
    use_graph: bool = True
    hierarchical: bool = True
    reference_attention: bool = True
    aggregation: str = "compare"
    gat_dropout: float = 0.1
    gat_dropout_in_train: bool = True
    gat_heads: int = 8
    gat_alpha: float = 0.2
    xavier_gain: float = XAVIER_GAIN
    w2_init: str = "reference"
    prototype_group_size: int | None = 8
    prototype_group_split: str = "strided"
    prototype_masked: bool = False
    soft_ce_reduction: str = "mean_classes"
    temperature: float = 1.0
    hidden_ratio: float = 1.0
    pred_ratio: float = 1.0
    per_domain_teacher: bool = True
    checkpoint_selection: str = "per_domain"
    record_every: int = 1

    def __post_init__(self) -> None:
        check_choice("aggregation", self.aggregation, AGGREGATIONS)
        check_choice("soft_ce_reduction", self.soft_ce_reduction, SOFT_CE_REDUCTIONS)
        check_choice("checkpoint_selection", self.checkpoint_selection, CHECKPOINT_SELECTIONS)
        check_choice("w2_init", self.w2_init, W2_INITS)
        check_choice("prototype_group_split", self.prototype_group_split, ("strided", "consecutive"))
        if not 0 <= self.gat_dropout < 1:
            raise HrkdError(f"gat_dropout must be in [0, 1), got {self.gat_dropout}")
        if self.gat_heads < 1:
            raise HrkdError(f"gat_heads must be >= 1, got {self.gat_heads}")
        if self.prototype_group_size is not None and self.prototype_group_size < 1:
            raise HrkdError(f"prototype_group_size must be >= 1 or None, got {self.prototype_group_size}")
        if self.temperature <= 0:
            raise HrkdError(f"temperature must be > 0, got {self.temperature}")
        if self.hidden_ratio < 0 or self.pred_ratio < 0:
            raise HrkdError(f"hidden_ratio and pred_ratio must be >= 0, got {self.hidden_ratio}, "
                            f"{self.pred_ratio}")
        if self.record_every < 1:
            raise HrkdError(f"record_every must be >= 1, got {self.record_every}")

    def with_overrides(self, **kwargs) -> HRKDConfig:
        """A copy with some switches replaced (validated again); unknown names raise HrkdError."""
        known = {f.name for f in fields(self)}
        for key in kwargs:
            check_choice("HRKD switch", key, sorted(known))
        return replace(self, **kwargs)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def records_graph(self) -> bool:
        """Whether a MetaGraph exists (and its outputs are recorded) under these switches."""
        return self.use_graph


#: Named variants compared in notebook 04 (docs/methods/hrkd.md §4 ablations, §2.6 trainable graph).
PRESETS: dict[str, dict] = {
    "hrkd": {},  # code-faithful defaults: frozen random graph, hierarchical, compare-aggregate
    "trainable_graph": {"graph_trainable": True},
    "detached": {"detach_prototypes": True},
    "no_graph": {"use_graph": False},  # multi-domain TinyBERT-KD
    "no_hierarchy": {"hierarchical": False},
    "averaging": {"aggregation": "mean"},
    "no_reference_attention": {"reference_attention": False},
}


def preset(name: str, **overrides) -> HRKDConfig:
    """The config of a named variant (:data:`PRESETS`), with optional further overrides."""
    check_choice("HRKD preset", name, PRESETS)
    return HRKDConfig().with_overrides(**{**PRESETS[name], **overrides})

"""Meta-KD (Pan et al., ACL-IJCNLP 2021): meta-teacher across domains, then per-domain students.

Method note: ``docs/methods/meta_kd.md``. One concept per module:

- ``config``: :class:`MetaKDConfig`, the §12 fidelity switches with their defaults.
- ``scores``: h(x) from a pre-trained encoder, class-/domain-wise prototypes, transferability t_i (§3).
- ``corruption``: domain-corruption head, shuffled-label loss, meta-teacher loss L_MT (§3).
- ``weights``: domain-expertise weights λ_i (§4).
- ``losses``: stage-1 (intermediate + TKD, per-instance λ or the batch-mean bug) and stage-2 losses (§4).

Not imported here: ``features`` (t_i of the training rows), ``probe`` (domain probe), and the runners
``meta_teacher`` (``run meta-teacher``) and ``runner`` (``run meta-kd``); notebook 03's runs are
``hrkd_lite.experiments.nb03``.
"""

from hrkd_lite.methods.metakd.config import MetaKDConfig, teacher_config_for
from hrkd_lite.methods.metakd.corruption import (
    CorruptionOutput,
    DomainCorruptionHead,
    corruption_loss,
    meta_teacher_loss,
    shuffled_domain_labels,
)
from hrkd_lite.methods.metakd.losses import (
    intermediate_terms,
    joint_loss,
    per_instance_mse,
    soft_cross_entropy_terms,
    stage1_loss,
    stage2_loss,
    tkd_loss,
)
from hrkd_lite.methods.metakd.scores import (
    PrototypeScores,
    compute_prototypes,
    extract_features,
    mean_pool,
    score_examples,
    transferability_scores,
)
from hrkd_lite.methods.metakd.weights import (
    expertise_weight_grid,
    expertise_weights,
    expertise_weights_from_prob,
    teacher_correctness_factor,
)

__all__ = [
    "CorruptionOutput", "DomainCorruptionHead", "MetaKDConfig", "PrototypeScores",
    "compute_prototypes", "corruption_loss", "expertise_weight_grid", "expertise_weights",
    "expertise_weights_from_prob", "extract_features", "intermediate_terms", "joint_loss", "mean_pool",
    "meta_teacher_loss", "per_instance_mse", "score_examples", "shuffled_domain_labels",
    "soft_cross_entropy_terms", "stage1_loss", "stage2_loss", "teacher_config_for",
    "teacher_correctness_factor", "tkd_loss", "transferability_scores",
]

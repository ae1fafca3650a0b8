"""L2A-style reconstruction (Feng et al., AAAI 2021, "Learning to Augment for Data-Scarce Domain BERT
Knowledge Distillation"): no public code exists, so everything beyond the abstract is our reconstruction.

Modules: ``config`` (switches), ``setting`` (source / scarce target), ``generator`` (MLM), ``chain``
(mask-and-refill augmentation, pool, leak check), ``selector`` (logistic policy, REINFORCE), ``students``
(the four students over episodes), ``runner`` (``python -m hrkd_lite run l2a``).
"""

from hrkd_lite.methods.l2a.config import FEATURES, L2AConfig, config_for

__all__ = ["FEATURES", "L2AConfig", "config_for"]

"""hrkd-lite: compressing BERT by knowledge distillation across domains, at laptop and Colab scale.

Package map (one concept per module):

- ``profiles``: the ``ci | cpu | gpu | paper`` scale switch.
- ``data``: multi-domain datasets (synthetic, amazon, mnli, local), few-shot, tokenisation, sampler.
- ``models``: a BERT encoder that returns pre-softmax attention scores; teacher/student builders;
  multi-domain classifier heads; parameter counts and latency.
- ``distill``: distillation losses (Hinton, TinyBERT, PKD, MiniLM) and layer maps.
- ``train``: one training loop with atomic safetensors checkpoints and resume.
- ``methods``: runnable methods (teacher, student, kd, tinybert, hrkd, meta-kd ...).
- ``viz``: plots and ipywidgets used by the notebooks.
"""

from hrkd_lite.errors import HrkdError
from hrkd_lite.profiles import PROFILES, Profile, get_profile

__version__ = "0.1.0"
__all__ = ["HrkdError", "PROFILES", "Profile", "get_profile", "__version__"]

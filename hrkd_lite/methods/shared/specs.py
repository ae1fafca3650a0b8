"""Model specs: ``model.json`` beside saved weights holds what rebuilds the classifier without the hub.
"""

from __future__ import annotations

import json
from pathlib import Path

from hrkd_lite.errors import HrkdError
from hrkd_lite.models import BertConfig, BertEncoder, MultiDomainClassifier
from hrkd_lite.train import load_weights
from hrkd_lite.utils import atomic_write_json


def save_model_spec(folder: Path, model: MultiDomainClassifier, extra: dict | None = None) -> None:
    """``model.json``: what is needed to rebuild the classifier around saved weights, without the hub."""
    spec = {"encoder": model.encoder.config.to_dict(), "num_labels": model.num_labels,
            "num_domains": model.num_domains, "shared_head": model.shared_head,
            "head_input": model.head_input, **(extra or {})}
    atomic_write_json(folder / "model.json", spec)


def load_classifier(folder: Path, weights: str) -> MultiDomainClassifier:
    """Rebuild a classifier from ``folder/model.json`` and load ``folder/weights``."""
    try:
        spec = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError) as exc:
        raise HrkdError(f"not a model folder: {folder} ({exc})") from None
    model = classifier_from_spec(spec)
    load_weights(folder / weights, model)
    return model


def classifier_from_spec(spec: dict) -> MultiDomainClassifier:
    """An untrained classifier shaped as ``model.json`` says (``head_input`` defaults to ``"dropout"``)."""
    return MultiDomainClassifier(BertEncoder(BertConfig(**spec["encoder"])), spec["num_labels"],
                                 spec["num_domains"], spec["shared_head"],
                                 head_input=spec.get("head_input", "dropout"))

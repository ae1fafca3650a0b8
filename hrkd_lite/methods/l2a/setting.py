"""The source -> target setting: a resource-rich source domain and a data-scarce target domain
(``docs/methods/l2a.md`` §2).

The abstract of L2A describes "a target domain with scarce training data" and "resource-rich source
domains". Our reconstruction: one domain keeps its full (profile-capped) training split as the source;
another domain is cut to ``target_labels`` labelled training examples, drawn stratified by label from a
seed; the target keeps its own dev and test splits (dev for the selector's reward and model selection,
test only for the final report). Works with any :class:`MultiDomainData` (synthetic, Amazon, local).
"""

from __future__ import annotations

from dataclasses import dataclass

import datasets
import numpy as np

from hrkd_lite.data import MultiDomainData
from hrkd_lite.data.base import labels_of, stratified_indices
from hrkd_lite.errors import HrkdError, check_choice

SOURCE, TARGET = 0, 1  # domain ids inside the setting's data


@dataclass
class L2ASetting:
    """``data`` holds exactly two domains, ``[source, target]`` (ids :data:`SOURCE`, :data:`TARGET`)."""

    data: MultiDomainData
    source: str
    target: str
    target_labels: int
    seed: int

    def texts(self, domain: int, split: str) -> list[str]:
        return list(self.data.split(domain, split)["text"])


def make_setting(data: MultiDomainData, source: str, target: str, target_labels: int,
                 seed: int = 0) -> L2ASetting:
    """Cut ``target``'s train split to ``target_labels`` rows (stratified, from ``seed``).

    Raises HrkdError (one line) for an unknown or identical domain, or ``target_labels`` outside
    ``2 .. len(target train)``.
    """
    check_choice("source domain", source, data.domains)
    check_choice("target domain", target, data.domains)
    if source == target:
        others = [d for d in data.domains if d != source]
        raise HrkdError(f"source and target domain are both {source!r}; choose a different target from "
                        f"{', '.join(others)}")
    full = len(data.split(target, "train"))
    if not isinstance(target_labels, (int, np.integer)) or not 2 <= int(target_labels) <= full:
        raise HrkdError(f"--target-labels {target_labels} is outside 2..{full}, the size of {target!r}'s "
                        f"train split (profile {data.info.get('profile', '?')})")
    pair = data.select_domains([source, target])
    train = pair.split(target, "train")
    rng = np.random.default_rng((seed, 12, int(target_labels)))
    idx = stratified_indices(labels_of(train), int(target_labels), rng, min_per_class=1)
    if len(idx) > target_labels:  # min_per_class may add a row per class; keep exactly N
        idx = np.sort(rng.permutation(idx)[:target_labels])
    splits = dict(pair.splits)
    splits[target] = datasets.DatasetDict({"train": train.select(idx.tolist()),
                                           "dev": pair.split(target, "dev"), "test": pair.split(target, "test")})
    new = pair._with_splits(splits)
    new.info["l2a"] = {"source": source, "target": target, "target_labels": int(target_labels), "seed": seed}
    return L2ASetting(new.validate(), source, target, int(target_labels), seed)

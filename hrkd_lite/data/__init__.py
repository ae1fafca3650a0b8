"""Multi-domain data: one container, four sources, tokenisation and the multi-domain sampler.

>>> from hrkd_lite.data import load_data
>>> data = load_data("synthetic", seed=0)           # doctest: +SKIP
>>> print(data.describe())                          # doctest: +SKIP

Sources: ``synthetic`` (this project's generator, ground-truth domain similarity), ``amazon``
(Blitzer multi-domain sentiment, HRKD split), ``mnli`` (by genre, HRKD split; hub or local jsonl),
``local`` (your own folder or file).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hrkd_lite.data.amazon import load_amazon
from hrkd_lite.data.base import SPLITS, MultiDomainData
from hrkd_lite.data.choice import DataChoice, choose_data
from hrkd_lite.data.encode import EncodedMultiDomain, encode_split
from hrkd_lite.data.local import load_local
from hrkd_lite.data.mnli import load_mnli
from hrkd_lite.data.sampler import MultiDomainSampler
from hrkd_lite.data.synthetic import make_synthetic
from hrkd_lite.errors import HrkdError, check_choice

SOURCES: tuple[str, ...] = ("synthetic", "amazon", "mnli", "local")


def load_data(source: str, data_dir: str | Path | None = None, *, profile: Any = None, seed: int = 0,
              few_shot: float | None = None, domains: Sequence[str] | None = None, few_shot_mode: str = "prefix",
              few_shot_domains: Sequence[str] | None = None, **kwargs: Any) -> MultiDomainData:
    """Load a multi-domain dataset and apply the profile's size caps.

    Args:
        source: ``synthetic | amazon | mnli | local``.
        data_dir: folder/file for amazon (default ``$HRKD_AMAZON_DIR``, else an earlier download's cache),
            mnli (None = the hub) and local (required); ignored for synthetic.
        profile: a :class:`hrkd_lite.profiles.Profile`; caps train/dev/test per domain
            (``train_per_domain`` ...) by stratified subsampling, and sets the synthetic generator's
            ``synthetic_domains`` / ``synthetic_per_domain``.
        seed: synthetic generator seed; subsampling / few-shot / local-file split seed. (The Amazon
            split keeps HRKD's own shuffle seed 42; pass ``amazon_seed=...`` to change it.)
        few_shot: keep this fraction (0, 1] of every domain's train split (after the profile caps).
        few_shot_domains: apply ``few_shot`` to these domains only (one data-scarce domain among full
            ones); default every domain.
        few_shot_mode: ``"prefix"`` (HRKD code: the first ⌊f·N⌋ rows in file order) or ``"stratified"``
            (:meth:`MultiDomainData.few_shot`).
        domains: keep only these domains, in this order.
        **kwargs: passed to the source loader (e.g. ``label_noise`` for synthetic, ``download`` for
            amazon; default True on the gpu and paper profiles).

    Returns:
        A validated :class:`MultiDomainData`.
    """
    check_choice("data source", source, SOURCES)
    if profile is not None:
        profile = profile.for_source(source)  # per-source sizes (e.g. Amazon on the cpu profile)
    if source == "synthetic":
        syn: dict[str, Any] = {}
        if profile is not None:
            syn = {"num_domains": profile.synthetic_domains, "per_domain": profile.synthetic_per_domain}
        syn.update(kwargs)
        if domains is not None:
            syn["domains"] = list(domains)
        data = make_synthetic(seed=seed, **syn)
    elif source == "amazon":
        amazon_seed = kwargs.pop("amazon_seed", 42)
        if profile is not None and data_dir is None:  # GPU profiles (Colab) fetch and cache the archive
            kwargs.setdefault("download", profile.name in ("gpu", "paper"))
        data = load_amazon(data_dir, domains=domains, seed=amazon_seed, **kwargs)
    elif source == "mnli":
        data = load_mnli(data_dir, domains=domains, **kwargs)
    else:
        if data_dir is None:
            raise HrkdError("source 'local' needs data_dir: a folder <domain>/{train,dev,test}.jsonl "
                            "or one .jsonl/.csv file with a domain column")
        data = load_local(data_dir, seed=seed, domains=domains, **kwargs)
    if profile is not None:
        data = data.subsample(train=profile.train_per_domain, dev=profile.dev_per_domain,
                              test=profile.test_per_domain, seed=seed)
        data.info["profile"] = profile.name
    if few_shot is not None:
        data = data.few_shot(few_shot, seed=seed, mode=few_shot_mode, domains=few_shot_domains)
    elif few_shot_domains is not None:
        raise HrkdError("few_shot_domains needs a few-shot fraction (few_shot=...), got none")
    return data.validate()


__all__ = ["SOURCES", "SPLITS", "DataChoice", "EncodedMultiDomain", "MultiDomainData", "MultiDomainSampler",
           "choose_data", "encode_split", "load_amazon", "load_data", "load_local", "load_mnli", "make_synthetic"]

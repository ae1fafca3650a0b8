"""Tokenisation to fixed-length tensors (HRKD/TinyBERT: static padding to ``max_len``).

Static padding matters for fidelity: HRKD's MSE terms and domain prototypes average over all
``max_len`` positions, padding included (``docs/methods/hrkd.md`` §5.7, switch ``static_padding``).

Each encoded split is a dict of tensors, all with first dimension N:

- ``input_ids`` (N, T) long, ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``, then ``[PAD]``;
- ``attention_mask`` (N, T) long, 1 = token, 0 = padding;
- ``token_type_ids`` (N, T) long, 0 for segment a, 1 for segment b (zeros if the tokenizer has none);
- ``labels`` (N,) long.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import datasets
import numpy as np
import torch

from hrkd_lite.data.base import SPLITS, MultiDomainData
from hrkd_lite.errors import HrkdError, check_choice

KEYS: tuple[str, ...] = ("input_ids", "attention_mask", "token_type_ids", "labels")
TRUNCATIONS: tuple[str, ...] = ("head", "head_tail")


def head_tail_ids(tokens: Sequence[int], budget: int) -> list[int]:
    """Keep ``budget`` word pieces of a long text: its first quarter from the head, the rest from the tail.

    Reviews often state the verdict at the end, which plain head truncation cuts away. The 1:3 split of
    the budget is our decision. Texts within the budget are returned whole.
    """
    if len(tokens) <= budget:
        return list(tokens)
    head = budget // 4
    return list(tokens[:head]) + list(tokens[len(tokens) - (budget - head):])


def _encode_head_tail(texts: list[str], tokenizer: Any, max_len: int) -> dict[str, torch.Tensor]:
    """``[CLS] head … tail [SEP] [PAD]…`` rows (N, T) for single texts (see :func:`head_tail_ids`)."""
    pieces = tokenizer(texts, add_special_tokens=False, truncation=False, verbose=False)["input_ids"]
    out = {k: torch.zeros((len(texts), max_len), dtype=torch.long) for k in KEYS[:3]}
    out["input_ids"].fill_(tokenizer.pad_token_id)
    for i, toks in enumerate(pieces):
        row = [tokenizer.cls_token_id, *head_tail_ids(toks, max_len - 2), tokenizer.sep_token_id]
        out["input_ids"][i, :len(row)] = torch.tensor(row, dtype=torch.long)
        out["attention_mask"][i, :len(row)] = 1
    return out


def encode_split(ds: datasets.Dataset, tokenizer: Any, max_len: int, has_pair: bool = False,
                 chunk: int = 2048, truncation: str = "head") -> dict[str, torch.Tensor]:
    """Tokenise one split: static padding to ``max_len``, longest-first truncation (or head + tail).

    Args:
        ds: a split with ``text``, ``label`` (and ``text_pair`` when ``has_pair``).
        tokenizer: any Hugging Face tokenizer (callable with ``text`` / ``text_pair``).
        max_len: T, the padded length.
        has_pair: encode ``text`` and ``text_pair`` as one pair.
        chunk: rows per tokenizer call (bounds peak memory).
        truncation: ``head`` keeps the first tokens (longest-first for pairs); ``head_tail`` keeps a
            quarter of the budget from the start and the rest from the end (single texts only).

    Returns:
        dict with ``input_ids``, ``attention_mask``, ``token_type_ids`` (N, T) and ``labels`` (N,).
    """
    if max_len < 4:
        raise HrkdError(f"max_len must be >= 4, got {max_len}")
    if has_pair and "text_pair" not in ds.column_names:
        raise HrkdError(f"has_pair=True but the split has no text_pair column ({ds.column_names})")
    check_choice("truncation", truncation, TRUNCATIONS)
    if truncation == "head_tail" and has_pair:
        raise HrkdError("truncation 'head_tail' is for single texts; sentence pairs use: head")
    n = len(ds)
    out = {k: torch.zeros((n, max_len), dtype=torch.long) for k in KEYS[:3]}
    for lo in range(0, n, chunk):
        part = ds[lo:lo + chunk]
        if truncation == "head_tail":
            enc = _encode_head_tail(list(part["text"]), tokenizer, max_len)
            for k in KEYS[:3]:
                out[k][lo:lo + len(part["text"])] = enc[k]
            continue
        enc = tokenizer(list(part["text"]), list(part["text_pair"]) if has_pair else None,
                        padding="max_length", truncation="longest_first", max_length=max_len,
                        return_token_type_ids=True, return_attention_mask=True)
        for k in KEYS[:3]:
            if k in enc and enc[k] is not None:
                out[k][lo:lo + len(part["text"])] = torch.tensor(enc[k], dtype=torch.long)
    out["labels"] = torch.as_tensor(np.asarray(ds["label"], dtype=np.int64) if n else np.zeros(0, np.int64))
    return out


@dataclass
class EncodedMultiDomain:
    """Per-domain, per-split tensors of a :class:`MultiDomainData`, ready for batching.

    ``tensors[d][split]`` is the dict returned by :func:`encode_split` for domain id ``d``.
    """

    domains: list[str]
    max_len: int
    has_pair: bool
    tensors: list[dict[str, dict[str, torch.Tensor]]] = field(default_factory=list)
    truncation: str = "head"

    @classmethod
    def from_data(cls, data: MultiDomainData, tokenizer: Any, max_len: int,
                  splits: Sequence[str] = SPLITS, truncation: str = "head") -> EncodedMultiDomain:
        """Encode every domain's ``splits`` (default train, dev, test); ``truncation`` as in :func:`encode_split`."""
        for s in splits:
            check_choice("split", s, SPLITS)
        tensors = [{s: encode_split(data.split(d, s), tokenizer, max_len, data.has_pair, truncation=truncation)
                    for s in splits} for d in data.domains]
        return cls(domains=list(data.domains), max_len=max_len, has_pair=data.has_pair, tensors=tensors,
                   truncation=truncation)

    def _get(self, domain: int | str, split: str) -> dict[str, torch.Tensor]:
        if isinstance(domain, str):
            check_choice("domain", domain, self.domains)
            domain = self.domains.index(domain)
        if not 0 <= int(domain) < len(self.domains):
            raise HrkdError(f"unknown domain index {domain}; valid: 0..{len(self.domains) - 1}")
        split_map = self.tensors[int(domain)]
        check_choice("split", split, list(split_map))
        return split_map[split]

    def size(self, domain: int | str, split: str) -> int:
        """Number of examples of one domain's split."""
        return int(self._get(domain, split)["labels"].shape[0])

    def sizes(self, split: str = "train") -> list[int]:
        """Per-domain sizes of ``split`` (what :class:`MultiDomainSampler` takes)."""
        return [self.size(d, split) for d in range(len(self.domains))]

    def batch(self, domain: int | str, split: str, idx: np.ndarray | Sequence[int] | torch.Tensor
              ) -> dict[str, torch.Tensor]:
        """Rows ``idx`` of one domain's split: tensors (B, T) and ``labels`` (B,)."""
        t = self._get(domain, split)
        index = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        return {k: v.index_select(0, index) for k, v in t.items()}

    def iter_eval(self, domain: int | str, split: str, batch_size: int) -> Iterator[dict[str, torch.Tensor]]:
        """Consecutive batches in row order (the last may be short); no padding, no duplicates."""
        if batch_size < 1:
            raise HrkdError(f"batch_size must be >= 1, got {batch_size}")
        t = self._get(domain, split)
        n = int(t["labels"].shape[0])
        for lo in range(0, n, batch_size):
            yield {k: v[lo:lo + batch_size] for k, v in t.items()}

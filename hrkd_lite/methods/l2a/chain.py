"""Markov-chain augmentation: mask-and-refill steps from target (and source) seeds, then a candidate pool
(``docs/methods/l2a.md`` §5).

Our reconstruction of "samples acquired from a stationary distribution near the target data" (abstract):

    x⁽⁰⁾ = a seed sentence,      x⁽ᵗ⁺¹⁾ ~ r_θ(· | c_ρ(x⁽ᵗ⁾)),

c_ρ replaces max(1, round(ρ·n)) of the n real, non-special tokens by [MASK] and r_θ (the generator) refills
each masked position with a token **sampled** (not argmax) from its softmax at ``temperature``; special
tokens are never written. [CLS], [SEP] and padding are never touched, so lengths and masks stay fixed.
Such a corruption-reconstruction chain has a stationary distribution close to what r_θ was trained on
(generalised denoising auto-encoders, Bengio et al. 2013); a few steps from target seeds keep samples
near the target. Every state x⁽¹⁾..x⁽ᵗ⁾ is a candidate; candidates are de-duplicated, copies of a seed or of
a dev/test sentence are dropped, and each is labelled by the teacher's soft prediction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from hrkd_lite.methods.l2a.generator import MLMGenerator, choose_positions


@torch.no_grad()
def refill_step(model: MLMGenerator, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                special_ids: torch.Tensor, mask_id: int, rate: float, generator: torch.Generator,
                temperature: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One chain step. Returns (new ids (B, T), masked positions (B, T) bool)."""
    pos = choose_positions(input_ids, attention_mask, special_ids, rate, generator)
    if not pos.any():
        return input_ids.clone(), pos
    masked = torch.where(pos, torch.full_like(input_ids, mask_id), input_ids)
    logits = model(masked, attention_mask, pos).float() / temperature  # (K, V)
    logits[:, special_ids] = float("-inf")
    probs = torch.softmax(logits, -1).cpu()
    new = torch.multinomial(probs, 1, generator=generator).squeeze(1).to(input_ids.device)
    out = input_ids.clone()
    out[pos] = new
    return out, pos


@torch.no_grad()
def run_chain(model: MLMGenerator, input_ids: torch.Tensor, attention_mask: torch.Tensor,
              special_ids: torch.Tensor, mask_id: int, rate: float, steps: int, generator: torch.Generator,
              temperature: float = 1.0) -> list[torch.Tensor]:
    """x⁽⁰⁾..x⁽ᵗ⁾ for a batch of seeds: a list of ``steps + 1`` tensors (B, T)."""
    was = model.training
    model.eval()
    states = [input_ids.clone()]
    for _ in range(steps):
        states.append(refill_step(model, states[-1], attention_mask, special_ids, mask_id, rate, generator,
                                  temperature)[0])
    model.train(was)
    return states


def _key(ids: torch.Tensor, mask: torch.Tensor) -> tuple[int, ...]:
    return tuple(ids[mask.bool()].tolist())


@dataclass
class CandidatePool:
    """Generated candidates. Tensors (M, T) like an encoded split; ``step`` (M,) chain step 1..t;
    ``from_source`` (M,) 1 when the seed came from the source domain; ``seed_row`` (M,) the seed's row in
    its split; ``stats`` counts of generated / duplicate / dropped rows."""

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    step: torch.Tensor
    from_source: torch.Tensor
    seed_row: torch.Tensor
    stats: dict = field(default_factory=dict)
    teacher_logits: torch.Tensor | None = None  # (M, C)
    embedding: torch.Tensor | None = None  # (M, H) teacher's mean last hidden state

    def __len__(self) -> int:
        return int(self.input_ids.shape[0])

    def batch(self, idx) -> dict[str, torch.Tensor]:
        ix = torch.as_tensor(np.asarray(idx, dtype=np.int64))
        ids = self.input_ids[ix]
        return {"input_ids": ids, "attention_mask": self.attention_mask[ix], "token_type_ids": torch.zeros_like(ids)}


def build_pool(model: MLMGenerator, target: dict[str, torch.Tensor], source: dict[str, torch.Tensor],
               exclude: list[dict[str, torch.Tensor]], special_ids: torch.Tensor, mask_id: int, *,
               seeds: int, source_share: float, rate: float, steps: int, seed: int,
               temperature: float = 1.0, batch: int = 64, device: torch.device | str = "cpu") -> CandidatePool:
    """Walk chains from ``seeds`` seed rows (``round(source_share·seeds)`` of them from ``source``, the rest
    from ``target``, drawn with replacement when the target has fewer rows) and pool every state 1..t.

    ``exclude``: encoded splits (dev, test) whose exact sentences may not appear among the candidates.
    """
    g = torch.Generator().manual_seed(seed * 7919 + 12)
    rng = np.random.default_rng((seed, 12, 1))
    n_src = int(round(source_share * seeds))
    n_tgt = seeds - n_src
    nt, ns = len(target["input_ids"]), len(source["input_ids"])
    tgt_rows = rng.choice(nt, n_tgt, replace=n_tgt > nt)
    src_rows = rng.choice(ns, n_src, replace=n_src > ns)
    ids = torch.cat([target["input_ids"][tgt_rows], source["input_ids"][src_rows]])
    att = torch.cat([target["attention_mask"][tgt_rows], source["attention_mask"][src_rows]])
    flag = torch.cat([torch.zeros(n_tgt, dtype=torch.long), torch.ones(n_src, dtype=torch.long)])
    rows = torch.as_tensor(np.concatenate([tgt_rows, src_rows]))
    out_ids, out_step, out_idx = [], [], []
    for lo in range(0, seeds, batch):
        sl = slice(lo, lo + batch)
        states = run_chain(model, ids[sl].to(device), att[sl].to(device), special_ids.to(device), mask_id, rate,
                           steps, g, temperature)
        for t in range(1, steps + 1):
            out_ids.append(states[t].cpu())
            out_step.append(torch.full((len(states[t]),), t, dtype=torch.long))
            out_idx.append(torch.arange(lo, lo + len(states[t])))
    all_ids, all_step, src_idx = torch.cat(out_ids), torch.cat(out_step), torch.cat(out_idx)
    all_att = att[src_idx]
    banned = {_key(i, m) for i, m in zip(ids, att)}
    dev_test = {_key(i, m) for part in exclude for i, m in zip(part["input_ids"], part["attention_mask"])}
    seen: set[tuple[int, ...]] = set()
    keep, stats = [], {"generated": len(all_ids), "duplicates": 0, "copies_of_seeds": 0, "copies_of_dev_test": 0}
    for j in range(len(all_ids)):
        k = _key(all_ids[j], all_att[j])
        if k in seen:
            stats["duplicates"] += 1
        elif k in banned:
            stats["copies_of_seeds"] += 1
        elif k in dev_test:
            stats["copies_of_dev_test"] += 1
        else:
            keep.append(j)
        seen.add(k)
    stats["unique"] = len(keep)
    sel = torch.as_tensor(keep, dtype=torch.long)
    return CandidatePool(all_ids[sel], all_att[sel], all_step[sel], flag[src_idx][sel], rows[src_idx][sel], stats)


def ngrams(ids: torch.Tensor, mask: torch.Tensor, special_ids: torch.Tensor, n: int) -> set[tuple[int, ...]]:
    """Word-piece n-grams of one row's real, non-special tokens."""
    toks = ids[mask.bool() & ~torch.isin(ids, special_ids)].tolist()
    return {tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)}


def ngram_overlap(rows: dict[str, torch.Tensor], refs: list[dict[str, torch.Tensor]], special_ids: torch.Tensor,
                  n: int = 4) -> np.ndarray:
    """Per row of ``rows``: the share of its n-grams that occur in any sentence of ``refs`` (N,) in [0, 1].

    A row shorter than n scores 0. Used as the leak check (generated text vs dev/test).
    """
    bank: set[tuple[int, ...]] = set()
    for part in refs:
        for i, m in zip(part["input_ids"], part["attention_mask"]):
            bank |= ngrams(i, m, special_ids, n)
    out = []
    for i, m in zip(rows["input_ids"], rows["attention_mask"]):
        g = ngrams(i, m, special_ids, n)
        out.append(len(g & bank) / len(g) if g else 0.0)
    return np.asarray(out, dtype=float)


@torch.no_grad()
def teacher_view(teacher, head: int, rows: dict[str, torch.Tensor], batch: int = 64,
                 device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """The teacher's logits (N, C) (the candidates' soft labels) and mean last hidden state (N, H)."""
    teacher.eval()
    logits, emb = [], []
    for lo in range(0, len(rows["input_ids"]), batch):
        b = {k: v[lo:lo + batch].to(device) for k, v in rows.items() if k != "labels"}
        tti = b.get("token_type_ids", torch.zeros_like(b["input_ids"]))
        out = teacher(b["input_ids"], b["attention_mask"], tti, domain=head)
        m = b["attention_mask"].unsqueeze(-1).float()
        logits.append(out.logits.float().cpu())
        emb.append(((out.hidden_states[-1] * m).sum(1) / m.sum(1).clamp(min=1)).float().cpu())
    return torch.cat(logits), torch.cat(emb)

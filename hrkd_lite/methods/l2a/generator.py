"""The generator G of the L2A-style reconstruction: a masked language model over the teacher's vocabulary
(``docs/methods/l2a.md`` §4).

The abstract says L2A "generates samples acquired from a stationary distribution near the target data"
with "the help of resource-rich source domains"; it does not say how (NOT FOUND). Our reconstruction: a
masked LM r_θ(x_masked | c_ρ(x)) fine-tuned on source ∪ (labelled) target training text, used by
:mod:`hrkd_lite.methods.l2a.chain` to walk a mask-and-refill Markov chain.

The offline all-MiniLM-L6-v2 checkpoint ships **no MLM head**, so ``generator="encoder_mlm"`` puts a
new head on a copy of the teacher's encoder (BERT's head form, our choice)::

    h = LayerNorm(gelu(W_t h_L + b_t))          (K, H) for the K masked positions
    logits = h E_wordᵀ + b                      (K, V), decoder tied to the word embeddings E_word

On GPU profiles (``bert-base-uncased``) the checkpoint's own head (``cls.predictions.*``) is loaded.
``generator="small_mlm"`` is a 2-layer, d = 64 encoder from scratch (cheaper). With ``encoder_mlm`` the word
embeddings (the tied decoder) stay frozen. The trained generator is
saved as ``model.safetensors`` + ``generator.json`` and reused by later runs and notebooks.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from hrkd_lite.errors import HrkdError, check_choice
from hrkd_lite.models.bert import INIT_STD, BertConfig, BertEncoder
from hrkd_lite.models.factory import load_encoder, load_pretrained
from hrkd_lite.train import TrainConfig, Trainer, load_weights, save_weights
from hrkd_lite.utils import atomic_write_json

SMALL = dict(hidden_size=64, num_layers=2, num_heads=2, intermediate_size=256)


class MLMGenerator(nn.Module):
    """Encoder + MLM head tied to the encoder's word embeddings.

    ``forward(input_ids (B,T), attention_mask (B,T), positions (B,T) bool) -> logits (K, V)`` for the K
    positions where ``positions`` is True (row-major order), so the (B, T, V) tensor is never built.
    """

    def __init__(self, encoder: BertEncoder):
        super().__init__()
        cfg = encoder.config
        self.encoder = encoder
        self.transform = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.norm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        nn.init.normal_(self.transform.weight, std=INIT_STD)
        nn.init.zeros_(self.transform.bias)

    @property
    def config(self) -> BertConfig:
        return self.encoder.config

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                positions: torch.Tensor) -> torch.Tensor:
        h = self.encoder(input_ids, attention_mask).last_hidden_state[positions]  # (K, H)
        h = self.norm(F.gelu(self.transform(h)))
        return F.linear(h, self.encoder.embeddings.word_embeddings.weight, self.bias)  # (K, V)

    def load_hf_mlm_head(self, state: dict[str, torch.Tensor]) -> bool:
        """Copy an HF ``cls.predictions`` head (transform + bias); False when the state has none."""
        pre = "cls.predictions."
        need = {"transform.dense.weight", "transform.dense.bias", "transform.LayerNorm.weight",
                "transform.LayerNorm.bias", "bias"}
        got = {k[len(pre):]: v for k, v in state.items() if k.startswith(pre)}
        if not need <= got.keys():
            return False
        with torch.no_grad():
            self.transform.weight.copy_(got["transform.dense.weight"])
            self.transform.bias.copy_(got["transform.dense.bias"])
            self.norm.weight.copy_(got["transform.LayerNorm.weight"])
            self.norm.bias.copy_(got["transform.LayerNorm.bias"])
            self.bias.copy_(got["bias"])
        return True


def build_generator(kind: str, teacher: str) -> tuple[MLMGenerator, dict]:
    """A fresh generator of ``kind`` over the vocabulary of ``teacher`` (``"minilm"`` or a hub name)."""
    check_choice("generator", kind, ("encoder_mlm", "small_mlm"))
    if kind == "encoder_mlm":
        gen = MLMGenerator(load_encoder(teacher))
        head = gen.load_hf_mlm_head(load_pretrained(teacher)[1])
        # the tied decoder stays the pretrained word-embedding table (our choice: cheaper, keeps the vocabulary
        # geometry the teacher and student share)
        gen.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
        return gen, {"kind": kind, "teacher": teacher, "pretrained_head": head}
    vocab = load_pretrained(teacher)[0].vocab_size
    with torch.random.fork_rng(devices=[]):  # seeded init without reseeding the caller's stream
        torch.manual_seed(0)
        gen = MLMGenerator(BertEncoder(BertConfig(vocab_size=vocab, **SMALL)))
    return gen, {"kind": kind, "teacher": teacher, "pretrained_head": False}


def maskable_positions(input_ids: torch.Tensor, attention_mask: torch.Tensor,
                       special_ids: torch.Tensor) -> torch.Tensor:
    """(B, T) bool: real tokens (mask 1) that are not special ([CLS], [SEP], [PAD], [MASK], [UNK])."""
    return attention_mask.bool() & ~torch.isin(input_ids, special_ids)


def choose_positions(input_ids: torch.Tensor, attention_mask: torch.Tensor, special_ids: torch.Tensor,
                     rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """c_ρ's positions: in each row exactly max(1, round(ρ·n)) of its n maskable tokens, uniformly.

    Returns a (B, T) bool tensor (all False in a row with no maskable token).
    """
    ok = maskable_positions(input_ids, attention_mask, special_ids)
    n = ok.sum(1)  # (B,)
    k = torch.clamp(torch.round(n.float() * rate), min=1).long()
    k = torch.minimum(k, n)
    u = torch.rand(input_ids.shape, generator=generator, device="cpu").to(input_ids.device)
    u = torch.where(ok, u, torch.full_like(u, 2.0))
    rank = u.argsort(1).argsort(1)
    return (rank < k[:, None]) & ok


def mlm_loss(model: MLMGenerator, input_ids: torch.Tensor, attention_mask: torch.Tensor,
             special_ids: torch.Tensor, mask_id: int, rate: float,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Cross-entropy of the original tokens at the masked positions (all replaced by [MASK])."""
    pos = choose_positions(input_ids, attention_mask, special_ids, rate, generator)
    masked = torch.where(pos, torch.full_like(input_ids, mask_id), input_ids)
    logits = model(masked, attention_mask, pos)
    return F.cross_entropy(logits, input_ids[pos])


def special_ids_of(tokenizer) -> torch.Tensor:
    """Ids the chain never writes nor masks: the tokenizer's special tokens ([PAD], [CLS], [SEP], ...)."""
    return torch.tensor(sorted(set(tokenizer.all_special_ids)), dtype=torch.long)


class _Steps:
    """``steps`` mini-batches of ``batch`` rows; epoch e's order comes from ``(seed, e)``."""

    def __init__(self, n: int, batch: int, steps: int, seed: int):
        self.n, self.batch, self.seed, self.steps_per_epoch = n, min(batch, n), steps, steps

    def epoch(self, e: int) -> list[tuple[int, np.ndarray]]:
        rng = np.random.default_rng((self.seed, 77, e))
        reps = math.ceil(self.steps_per_epoch * self.batch / self.n)
        order = np.concatenate([rng.permutation(self.n) for _ in range(reps)])
        return [(e * self.steps_per_epoch + s, order[s * self.batch:(s + 1) * self.batch])
                for s in range(self.steps_per_epoch)]


def train_generator(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer, folder: Path, *,
                    kind: str, teacher: str, steps: int, batch: int, lr: float, rate: float, seed: int,
                    device: torch.device, progress: bool = True,
                    mixed_precision: str = "no") -> tuple[MLMGenerator, dict]:
    """Fine-tune (or reuse from ``folder``) the generator on the rows ``input_ids`` (N, T).

    Resumes an interrupted run (``folder/train/last.safetensors``). Writes ``folder/model.safetensors``
    and ``folder/generator.json`` (kind, sizes, the loss of the first and last steps).
    """
    folder = Path(folder)
    if (folder / "generator.json").is_file():
        return load_generator(folder, device)
    model, info = build_generator(kind, teacher)
    model.to(device)
    special = special_ids_of(tokenizer).to(device)
    mask_id = int(tokenizer.mask_token_id)

    def loss_fn(item):
        step, idx = item
        g = torch.Generator().manual_seed(seed * 100_003 + int(step))
        ix = torch.as_tensor(idx)
        return mlm_loss(model, input_ids[ix].to(device), attention_mask[ix].to(device), special, mask_id, rate, g)

    cfg = TrainConfig(epochs=1, lr=lr, seed=seed, out_dir=str(folder / "train"), desc="generator MLM",
                      progress=progress, save_every=max(1, steps // 4), mixed_precision=mixed_precision)
    result = Trainer(model, loss_fn, None, _Steps(len(input_ids), batch, steps, seed), cfg).fit()
    losses = [h["loss"] for h in result.history]
    info.update(steps=steps, batch=batch, lr=lr, mask_rate=rate, rows=len(input_ids),
                encoder=model.config.to_dict(), loss_history=losses)
    save_weights(folder / "model.safetensors", model)
    atomic_write_json(folder / "generator.json", info)
    (folder / "train" / "last.safetensors").unlink(missing_ok=True)
    return model, info


def load_generator(folder: Path, device: torch.device | str = "cpu") -> tuple[MLMGenerator, dict]:
    """Rebuild a saved generator (no hub access: the encoder shape is stored in generator.json)."""
    folder = Path(folder)
    try:
        info = json.loads((folder / "generator.json").read_text())
    except (OSError, ValueError) as exc:
        raise HrkdError(f"no saved generator in {folder} ({exc}); run `python -m hrkd_lite run l2a` first") from None
    model = MLMGenerator(BertEncoder(BertConfig(**info["encoder"])))
    load_weights(folder / "model.safetensors", model)
    return model.to(device).eval(), info

"""The gpu profile's model path with tiny local checkpoints in the Hugging Face folder format: a teacher and
a student of another width and depth, loaded by name (a folder) as hub checkpoints are."""

from __future__ import annotations

import json

import torch
from safetensors.torch import load_file

from hrkd_lite.distill import FitDenses, uniform_map
from hrkd_lite.distill.tinybert import tinybert_layer_losses
from hrkd_lite.models.factory import build_student, build_teacher, load_tokenizer, teacher_layers_for_student
from hrkd_lite.profiles import get_profile


def test_folders_are_hf_format_and_load_as_teacher_and_student(tiny_hub_models):
    tdir, sdir = tiny_hub_models
    for folder in (tdir, sdir):
        assert {"config.json", "model.safetensors", "vocab.txt"} <= {p.name for p in folder.iterdir()}
        assert json.loads((folder / "config.json").read_text())["model_type"] == "bert"
    prof = get_profile("gpu").with_overrides(teacher=str(tdir), student=str(sdir))
    teacher = build_teacher(prof, num_labels=3, num_domains=2)
    student = build_student(prof, num_labels=3, num_domains=2)
    assert (teacher.config.hidden_size, teacher.config.num_layers) == (64, 4)
    assert (student.config.hidden_size, student.config.num_layers) == (32, 2)
    saved = load_file(str(sdir / "model.safetensors"))
    key = next(k for k in saved if k.endswith("embeddings.word_embeddings.weight"))
    assert torch.equal(student.encoder.embeddings.word_embeddings.weight, saved[key])  # weights, not a re-init
    assert teacher_layers_for_student(prof, 4) == [2, 4]  # TinyBERT's uniform map g(m) = m·L/M
    assert load_tokenizer(str(tdir))("a tiny test")["input_ids"][0] == 101  # [CLS] of the MiniLM vocabulary


def test_projections_carry_the_narrow_student_to_the_teacher_width(tiny_hub_models):
    tdir, sdir = tiny_hub_models
    prof = get_profile("gpu").with_overrides(teacher=str(tdir), student=str(sdir))
    teacher, student = build_teacher(prof, 2).eval(), build_student(prof, 2)
    tok = load_tokenizer(str(tdir))
    batch = dict(tok(["a tiny test", "another one"], padding="max_length", max_length=12, return_tensors="pt"))
    with torch.no_grad():
        t_out = teacher(**batch)
    s_out = student(**batch)
    fit = FitDenses(32, 64, 3)
    terms = tinybert_layer_losses(s_out, t_out, fit, uniform_map(4, 2), reduction="mean")
    total = terms["emb"] + sum(terms["attn"]) + sum(terms["hid"])
    total.backward()
    assert torch.isfinite(total) and total > 0
    assert fit[1].weight.grad is not None and fit[1].weight.shape == (64, 32)
    assert all(p.grad is None for p in teacher.parameters())

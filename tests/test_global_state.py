"""Library functions leave the caller's global random stream alone (issue 10, "global state")."""

import torch

from hrkd_lite.viz.background_sizes import preset_speedups


def test_preset_speedups_does_not_reseed_the_global_stream():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    preset_speedups(batch_size=1, seq_len=8, rounds=1)
    assert torch.equal(torch.rand(3), expected)


def test_pretrained_weight_cache_is_bounded_and_clearable(tiny_hub_models):
    from hrkd_lite.models import factory

    teacher, student = (str(p) for p in tiny_hub_models)
    factory.clear_pretrained_cache()
    factory.load_pretrained(teacher)
    factory.load_pretrained(student)
    factory.load_pretrained("minilm")  # a third model pushes out the least recently used one
    assert list(factory._CACHE) == [student, "minilm"]
    assert len(factory._CACHE) == factory.MAX_CACHED_MODELS
    factory.clear_pretrained_cache()
    assert not factory._CACHE


def test_library_code_writes_no_environment_variables_when_loading_models(tiny_hub_models, monkeypatch):
    import os

    from hrkd_lite.models import factory

    before = dict(os.environ)
    factory.clear_pretrained_cache()
    factory.load_encoder(str(tiny_hub_models[0]))
    assert dict(os.environ) == before

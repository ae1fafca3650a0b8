"""Library functions leave the caller's global random stream alone (issue 10, "global state")."""

import torch

from hrkd_lite.viz.background_sizes import preset_speedups


def test_preset_speedups_does_not_reseed_the_global_stream():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    preset_speedups(batch_size=1, seq_len=8, rounds=1)
    assert torch.equal(torch.rand(3), expected)

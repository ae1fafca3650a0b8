"""``python -m hrkd_lite bench``: the bench.json schema on the ci profile, the exponent fit, the table."""

from __future__ import annotations

import json

import pytest

from hrkd_lite.cli import main
from hrkd_lite.experiments.bench import GOALS, bench_table, domain_exponent, ratios

STEP_KEYS = {"student", "hinton_kd", "tinybert_single", "tinybert_single_cached", "tinybert_multi",
             "tinybert_multi_cached", "hrkd", "hrkd_cached", "metakd_stage1", "metakd_stage1_cached"}


def test_exponent_of_a_power_law_is_recovered():
    assert domain_exponent([2, 4, 8, 16], [0.3 * d for d in (2, 4, 8, 16)]) == pytest.approx(1.0)
    assert domain_exponent([2, 4, 8, 16], [0.1 * d ** 2 for d in (2, 4, 8, 16)]) == pytest.approx(2.0)


def test_ratios_and_goals_from_a_result():
    steps = dict.fromkeys(STEP_KEYS, 1.0) | {"student": 0.5, "tinybert_multi_cached": 0.6, "hrkd": 2.2,
                                             "tinybert_multi": 2.0}
    r = ratios({"steps": steps, "latency_ms": {"teacher": {"1": 9.0, "32": 300.0},
                                                "student": {"1": 3.0, "32": 100.0}}})
    assert r["tinybert_cached_over_student"] == pytest.approx(1.2)
    assert r["hrkd_over_tinybert_multi"] == pytest.approx(1.1)
    assert r["teacher_over_student_latency_32"] == pytest.approx(3.0)
    assert set(GOALS) <= set(r)


@pytest.mark.slow
def test_bench_writes_the_schema_on_the_ci_profile(tmp_path, capsys, one_torch_thread):
    # one round, short latency inputs: this checks the schema, not the speed
    from hrkd_lite.experiments import bench

    result = bench.run_bench(_ci(), tmp_path,
                             bench.BenchConfig(repeats=1, latency_seq=16, latency_repeats=1), progress=False)
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data == json.loads(json.dumps(result))
    assert data["repeats"] == 1 and set(data["steps"]) == STEP_KEYS
    assert set(data["hrkd_by_domains"]) == {"2", "4", "8", "16"}
    assert set(data["latency_ms"]) == {"teacher", "student"}
    assert all(set(v) == {"1", "32"} for v in data["latency_ms"].values())
    numbers = [*data["steps"].values(), *data["hrkd_by_domains"].values(),
               *(x for v in data["latency_ms"].values() for x in v.values())]
    assert all(isinstance(x, float) and x > 0 for x in numbers)
    assert set(GOALS) <= set(data["ratios"]) and isinstance(data["hrkd_domain_exponent"], float)
    table = bench_table(data)
    assert "| hrkd |" in table and "tinybert_cached_over_student" in table


def _ci():
    from hrkd_lite.profiles import get_profile

    return get_profile("ci")


def test_bench_cli_rejects_a_bad_repeat_count(capsys):
    assert main(["bench", "--profile", "ci", "--repeats", "0"]) == 2
    assert "--repeats must be >= 1, got 0" in capsys.readouterr().err

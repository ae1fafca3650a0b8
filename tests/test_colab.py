"""Every notebook's first cell, run as Colab would run it (``google.colab`` in ``sys.modules``, ``%pip``
captured instead of run) and as a plain kernel would; the Colab contract of the committed notebooks."""

from __future__ import annotations

import importlib.machinery
import json
import sys
import types
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager
from IPython.utils.text import DollarFormatter

from hrkd_lite import colab
from hrkd_lite.colab import NOTEBOOKS, PLACEHOLDER_REPO, TEACHER_PIN
from hrkd_lite.errors import HrkdError

NB_DIR = Path(__file__).resolve().parents[1] / "notebooks"
MY_REPO = "https://github.com/someone/hrkd-lite"


def bootstrap_of(notebook: str) -> str:
    """The first code cell of the committed notebook, up to and including its ``setup(...)`` line."""
    nb = json.loads((NB_DIR / f"{notebook}.ipynb").read_text())
    src = "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    end = src.index("nb = setup(")
    return src[: src.index("\n", end) + 1]


class FakeShell:
    """Stands in for ``get_ipython()``: records line magics, expanding ``{var}`` as IPython does."""

    def __init__(self, ns: dict):
        self.ns, self.magics = ns, []

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1):
        self.magics.append((name, DollarFormatter().vformat(line, args=[], kwargs=self.ns)))


def run_cell(src: str, *, colab_present: bool, monkeypatch, cuda: bool = False) -> tuple[dict, FakeShell]:
    """Execute a cell's IPython source; with ``colab_present`` a fake ``google.colab`` module is loaded."""
    mounted: list[str] = []
    if colab_present:
        google = types.ModuleType("google")
        gcolab = types.ModuleType("google.colab")
        for mod in (google, gcolab):  # as real modules have: libraries probe Colab with importlib.util.find_spec
            mod.__spec__ = importlib.machinery.ModuleSpec(mod.__name__, None)
        gcolab.drive = types.SimpleNamespace(mount=mounted.append)
        google.colab = gcolab
        monkeypatch.setitem(sys.modules, "google", google)
        monkeypatch.setitem(sys.modules, "google.colab", gcolab)
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(colab, "cuda_available", lambda: cuda)
    ns: dict = {"__name__": "__main__"}
    shell = FakeShell(ns)
    ns["get_ipython"] = lambda: shell
    ns["mounted"] = mounted
    exec(compile(TransformerManager().transform_cell(src), "<first cell>", "exec"), ns)
    return ns, shell


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for var in ("HRKD_PROFILE", "HRKD_RUNS_DIR", "HRKD_FAST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(colab, "DRIVE_ROOT", str(tmp_path / "drive"))
    return tmp_path


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_first_cell_on_colab_installs_package_and_teacher_only(notebook, clean_env, monkeypatch, capsys):
    src = bootstrap_of(notebook).replace(PLACEHOLDER_REPO, MY_REPO)
    ns, shell = run_cell(src, colab_present=True, monkeypatch=monkeypatch, cuda=False)
    assert shell.magics == [("pip", f'install -q "hrkd-lite @ git+{MY_REPO}"'),
                            ("pip", f"install -q --no-deps {TEACHER_PIN}")]
    for _, line in shell.magics:  # Colab's torch and ipywidgets stay: no extras, no upgrade, no pins of them
        assert "[" not in line and "--upgrade" not in line and " -U" not in line
        assert "torch" not in line and "ipywidgets" not in line
    setup = ns["nb"]
    assert setup.colab and setup.profile.name == "cpu" and "no GPU" in setup.why
    assert colab.os.environ["HRKD_PROFILE"] == "cpu"
    out = capsys.readouterr().out
    assert "profile cpu" in out and colab.RUNTIMES[notebook]["cpu"] in out


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_first_cell_on_colab_picks_gpu_with_cuda_and_keeps_runs_on_drive(notebook, clean_env, monkeypatch,
                                                                          capsys):
    runs = f"{colab.DRIVE_ROOT}/MyDrive/hrkd-runs"
    src = bootstrap_of(notebook).replace(PLACEHOLDER_REPO, MY_REPO).replace('HRKD_RUNS_DIR = ""',
                                                                            f'HRKD_RUNS_DIR = "{runs}"')
    ns, _ = run_cell(src, colab_present=True, monkeypatch=monkeypatch, cuda=True)
    assert ns["nb"].profile.name == "gpu"
    assert ns["mounted"] == [colab.DRIVE_ROOT]  # Drive is mounted before the folder is used
    assert colab.os.environ["HRKD_RUNS_DIR"] == runs and Path(runs).is_dir()
    assert ns["nb"].runs("04_hrkd") == Path(runs) / "04_hrkd"
    out = capsys.readouterr().out
    assert "profile gpu" in out and colab.expected_runtime(notebook, "gpu") in out and runs in out


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_first_cell_stops_with_one_sentence_on_the_placeholder(notebook, clean_env, monkeypatch):
    with pytest.raises(RuntimeError, match=r"^Put the URL of your copy of hrkd-lite in HRKD_REPO") as err:
        run_cell(bootstrap_of(notebook), colab_present=True, monkeypatch=monkeypatch)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_first_cell_outside_colab_installs_nothing(notebook, clean_env, monkeypatch, capsys):
    monkeypatch.setenv("HRKD_PROFILE", "ci")
    ns, shell = run_cell(bootstrap_of(notebook), colab_present=False, monkeypatch=monkeypatch, cuda=True)
    assert shell.magics == [] and "HRKD_RUNS_DIR" not in colab.os.environ
    assert ns["nb"].profile.name == "ci" and not ns["nb"].colab and ns["nb"].why == "set by $HRKD_PROFILE"
    assert "profile ci" in capsys.readouterr().out


def test_profile_override_wins_on_colab(clean_env, monkeypatch):
    monkeypatch.setenv("HRKD_PROFILE", "ci")
    src = bootstrap_of("04_hrkd").replace(PLACEHOLDER_REPO, MY_REPO)
    ns, _ = run_cell(src, colab_present=True, monkeypatch=monkeypatch, cuda=True)
    assert ns["nb"].profile.name == "ci"


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_fast_switch_in_the_first_cell_gives_one_seed_and_no_sweeps(notebook, clean_env, monkeypatch, capsys):
    monkeypatch.setenv("HRKD_PROFILE", "cpu")
    src = bootstrap_of(notebook).replace("HRKD_FAST = False", "HRKD_FAST = True")
    ns, _ = run_cell(src, colab_present=False, monkeypatch=monkeypatch)
    out = capsys.readouterr().out
    assert ns["nb"].profile.fast and ns["nb"].profile.seeds == (0,) and not ns["nb"].profile.sweeps
    assert "fast path: seed 0 only, no ablation sweep" in out
    assert "on the fast path" in out or "fast path not timed; at most" in out
    later = colab.get_profile()  # what the notebook's later cells see
    assert later.fast and later.seeds == (0,) and later.max_len == colab.get_profile("cpu", fast=False).max_len


def test_fast_path_off_by_default_and_from_the_environment(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("HRKD_PROFILE", "cpu")
    nb = colab.setup("04_hrkd")
    assert not nb.profile.fast and nb.profile.seeds == (0, 1, 2) and nb.profile.sweeps
    assert "full path" in capsys.readouterr().out
    monkeypatch.setenv("HRKD_FAST", "1")
    assert colab.setup("04_hrkd", quiet=True).profile.seeds == (0,)
    monkeypatch.setenv("HRKD_FAST", "yes")
    with pytest.raises(HrkdError, match=r"unknown HRKD_FAST 'yes'; valid choices: 0, 1"):
        colab.setup("04_hrkd", quiet=True)


def test_fast_runtime_says_when_it_was_not_timed():
    for notebook in NOTEBOOKS:
        text = colab.expected_runtime(notebook, "cpu", fast=True)
        timed = colab.RUNTIMES[notebook].get("cpu fast")
        assert (timed in text and "fast path" in text) if timed else text.startswith("fast path not timed; at most")


def test_bad_profile_and_notebook_are_one_line_errors(clean_env, monkeypatch):
    monkeypatch.setenv("HRKD_PROFILE", "tpu")
    with pytest.raises(HrkdError, match="tpu"):
        colab.setup("04_hrkd", quiet=True)
    with pytest.raises(HrkdError, match="05_x"):
        colab.setup("05_x", quiet=True)


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_committed_notebooks_follow_the_colab_contract(notebook):
    nb = json.loads((NB_DIR / f"{notebook}.ipynb").read_text())
    assert colab.notebook_problems(nb, notebook) == []
    assert nb["metadata"]["accelerator"] == "GPU"


def test_repo_switch_rewrites_badge_and_first_cell(tmp_path):
    for notebook in NOTEBOOKS:
        (tmp_path / f"{notebook}.ipynb").write_text((NB_DIR / f"{notebook}.ipynb").read_text())
    assert colab.main([str(tmp_path), "--check"]) == 0
    assert colab.main([str(tmp_path), "--repo", MY_REPO, "--readme", str(tmp_path / "none.md")]) == 0
    nb = json.loads((tmp_path / "04_hrkd.ipynb").read_text())
    assert "colab.research.google.com/github/someone/hrkd-lite/blob/main/notebooks/04_hrkd.ipynb" in \
        "".join(nb["cells"][0]["source"])
    assert f'HRKD_REPO = "{MY_REPO}"' in "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])
    assert colab.main([str(tmp_path), "--check"]) == 0
    nb["cells"][0]["source"] = ["[![Open In Colab](x)](https://colab.research.google.com/github/other/x)"]
    (tmp_path / "04_hrkd.ipynb").write_text(json.dumps(nb))
    assert colab.main([str(tmp_path), "--check"]) == 1


def test_readme_runtime_table_and_badges_match_the_package():
    readme = (NB_DIR.parent / "README.md").read_text()
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[1:-1]]
            for line in readme.splitlines() if line.startswith("| 0")}
    for notebook in NOTEBOOKS:
        row = rows[notebook[:2]]
        times = colab.RUNTIMES[notebook]
        assert row[3:6] == [times["ci"], times["cpu"], times.get("cpu fast", "not timed")], notebook
        assert colab.badge_markdown(PLACEHOLDER_REPO, notebook) == row[7]


def test_repo_switch_rewrites_the_readme_badges(tmp_path):
    for notebook in NOTEBOOKS:
        (tmp_path / f"{notebook}.ipynb").write_text((NB_DIR / f"{notebook}.ipynb").read_text())
    readme = tmp_path / "README.md"
    readme.write_text((NB_DIR.parent / "README.md").read_text())
    assert colab.main([str(tmp_path), "--repo", MY_REPO, "--branch", "dev", "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "github/<you>/" not in text
    assert text.count("colab.research.google.com/github/someone/hrkd-lite/blob/dev/notebooks/") == len(NOTEBOOKS)


def test_first_cell_in_a_real_ipython_shell(clean_env, monkeypatch):
    """The same cell through IPython itself: its own magic transformation and ``{HRKD_REPO}`` expansion."""
    from IPython.core.interactiveshell import InteractiveShell

    google, gcolab = types.ModuleType("google"), types.ModuleType("google.colab")
    google.colab = gcolab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", gcolab)
    monkeypatch.setattr(colab, "cuda_available", lambda: False)
    shell = InteractiveShell.instance()
    monkeypatch.setattr(InteractiveShell, "_instance", None)  # leave no shell behind for later tests
    captured: list[str] = []
    shell.register_magic_function(lambda line: captured.append(line), "line", "pip")
    result = shell.run_cell(bootstrap_of("03_meta_kd").replace(PLACEHOLDER_REPO, MY_REPO), store_history=False)
    assert result.success, result.error_in_exec
    assert captured == [f'install -q "hrkd-lite @ git+{MY_REPO}"', f"install -q --no-deps {TEACHER_PIN}"]
    assert shell.user_ns["nb"].profile.name == "cpu"
    stopped = shell.run_cell(bootstrap_of("03_meta_kd"), store_history=False)
    assert isinstance(stopped.error_in_exec, RuntimeError) and len(captured) == 2

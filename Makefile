# The two promises: `make run` and `make test` work on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= all
# pytest workers (pytest-xdist): one per core; each test file runs whole on one worker.
TEST_WORKERS ?= auto

.PHONY: run test venv venv-test lint figures report clean help bench calibration

help:
	@echo "make run   - set up .venv and run the workflow on the synthetic default (reports/index.html, reports/stro/results.html); CONFIGFILE=F adds a config, e.g. docs/examples/three_studies.yaml"
	@echo "make test  - set up .venv with the test extras and run the test suite (but the slow speed benchmarks: make bench)"
	@echo "make lint  - ruff and snakemake --lint"
	@echo "make bench - the workflow at 5 sizes up to 5M PNC rows (benchmarks/results.csv; long), then the linkage benchmarks and the slow tests (pytest -m slow)"
	@echo "make calibration - the Monte Carlo calibration of every decision (long: see docs/calibration.md)"
	@echo "make clean - remove everything the workflow wrote (data/*, figures, reports)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed
venv-test: $(VENV)/.installed-test

run: venv
	$(BIN)/snakemake --cores $(CORES) --rerun-incomplete $(if $(CONFIGFILE),--configfile $(CONFIGFILE))
	@echo "Done: open reports/index.html (each study's report is reports/<study>/results.html)"

test: venv-test
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not slow"
	@wd=$$(mktemp -d) && echo "Notebooks: a fresh synthetic run in $$wd, then nbmake" && \
	$(BIN)/snakemake -s $(CURDIR)/Snakefile -d $$wd --cores $(CORES) --quiet all && \
	STROSTUDY_WORKDIR=$$wd $(BIN)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --nbmake notebooks/*.ipynb

$(VENV)/.installed-bench: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

# BENCH_SIZES=default,0.5M for a quick look; the full set takes hours on 2 cores (docs/scale.md).
BENCH_SIZES ?= default,0.5M,1M,2M,5M
bench: $(VENV)/.installed-bench venv-test
	$(BIN)/python benchmarks/bench.py --sizes $(BENCH_SIZES)
	$(BIN)/python benchmarks/linkage_benchmark.py --scale
	$(BIN)/python -m pytest -m slow -p no:cacheprovider

calibration: venv
	$(BIN)/snakemake calibration --cores $(CORES) --rerun-incomplete
	$(BIN)/python benchmarks/calibration_doc.py data/calibration/calibration.csv

lint: venv-test
	$(BIN)/ruff check src tests scripts
	$(BIN)/snakemake --lint

clean:
	rm -rf data/raw/*.csv data/raw/rocu data/truth data/calibration data/interim/* data/processed/* .snakemake
	find figures reports -mindepth 1 ! -name README.md -exec rm -rf {} +   # every study's folder too
	git checkout -- data figures reports 2>/dev/null || true

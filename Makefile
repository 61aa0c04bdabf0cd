# The two entry points a fresh clone needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MINUTES ?= 5
# constraints.txt pins torch==2.13.0, the local CPU wheel: any other spec would pull a CUDA build.
PIP_INSTALL := $(BIN)/pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: demo test lint format install install-test corpus-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP_INSTALL) torch==2.13.0
	$(PIP_INSTALL) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP_INSTALL) -e '.[test]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/seq2seq demo --minutes $(MINUTES)

test: install-test
	$(BIN)/python -m pytest -q

# Rebuilds bible-en-es from the Debian SWORD modules and checks it equals the shipped files
# (needs apt as root; not part of `make test`, which must not depend on apt).
corpus-check: install-test
	apt-get update -qq && apt-get install -y -qq sword-text-web sword-text-sparv
	$(PIP_INSTALL) -e '.[test,corpus]'
	$(BIN)/python -m pytest -q -m integration tests/unit/data/test_bible.py
	$(BIN)/seq2seq data prepare bible-en-es --from-sword

lint: install-test
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

format: install-test
	$(BIN)/ruff format src tests benchmarks examples
	$(BIN)/ruff check --fix src tests benchmarks examples

clean:
	rm -rf $(VENV) build dist src/*.egg-info

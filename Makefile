# The two commands a newcomer needs: `make run` and `make test`. Each creates .venv on first
# use and reinstalls when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
EXAMPLE_DATE ?= 2026-11-26

.PHONY: run test lint bench format docs clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

## run: collect the bundled example, write feeds/, render and deliver the digest of EXAMPLE_DATE
run: $(STAMP)
	$(BIN)/bulletin --config config.yaml run --date $(EXAMPLE_DATE)

## test: the whole test suite
test: $(STAMP)
	$(BIN)/pytest

## lint: ruff and mypy
lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests bench scripts
	$(BIN)/ruff check --fix src tests bench scripts

## docs: regenerate the README's config table from the config declarations
docs: $(STAMP)
	$(BIN)/python scripts/update-readme.py

## bench: the benchmarks under bench/
bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) var feeds/digests feeds/*.rss feeds/*.atom feeds/*.json feeds/index.* feeds/.bulletin-feeds.json

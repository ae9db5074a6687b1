# toolkit: `make demo`, `make test`, `make bench`. Targets create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-train-dev
# The example third-party plugin, installed separately (as a user would) so its
# entry point is real; make test runs its own tests too.
PLUGIN_DIR := plugins/toolkit-fasttext
PLUGIN_STAMP := $(VENV)/.installed-plugin-fasttext
export TOOLKIT_POLARITY_DIR ?= $(abspath $(CURDIR)/../shared/data/review_polarity)
export PYTHONHASHSEED := 0

.PHONY: install demo test bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[train,dev]"
	touch $@

$(PLUGIN_STAMP): $(STAMP) $(PLUGIN_DIR)/pyproject.toml
	$(BIN)/pip install -q -e ./$(PLUGIN_DIR)
	touch $@

demo: $(STAMP)
	$(BIN)/toolkit data info
	$(BIN)/toolkit vocab build --tokenizer nltk --min-count 2 --out build/demo/vocab.txt --overwrite

test: $(STAMP) $(PLUGIN_STAMP)
	$(BIN)/python -m pytest -q
	$(BIN)/python -m pytest -q $(PLUGIN_DIR)/tests

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf build exports .pytest_cache

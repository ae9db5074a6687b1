# toolkit: `make demo`, `make test`, `make bench`. Targets create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-all
# The example third-party plugin, installed separately (as a user would) so its
# entry point is real; make test runs its own tests too.
PLUGIN_DIR := plugins/toolkit-fasttext
PLUGIN_STAMP := $(VENV)/.installed-plugin-fasttext
export TOOLKIT_POLARITY_DIR ?= $(abspath $(CURDIR)/../shared/data/review_polarity)
export TOOLKIT_MR_DIR ?= $(abspath $(CURDIR)/../shared/data/rt-polaritydata)
export TOOLKIT_MULTI_DOMAIN_DIR ?= $(abspath $(CURDIR)/../shared/data/multi_domain)
export PYTHONHASHSEED := 0

.PHONY: install demo test test-cluster fuzz bench bench-quick default-model clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[train,score,ray,spark,serve,dev]"
	touch $@

$(PLUGIN_STAMP): $(STAMP) $(PLUGIN_DIR)/pyproject.toml
	$(BIN)/pip install -q -e ./$(PLUGIN_DIR)
	touch $@

# The main job end to end: clean + vocabulary, train, export, score in spaCy.
# QUICK=1 skips training and serves the shipped default model.
demo: $(STAMP)
	$(BIN)/toolkit data info
	$(BIN)/toolkit vocab build --tokenizer nltk --min-count 2 --out build/demo/vocab.txt --overwrite
ifeq ($(QUICK),1)
	$(BIN)/python -m toolkit.cli.demo
else
	$(BIN)/toolkit train --out build/demo/model --overwrite --quiet
	$(BIN)/toolkit export build/demo/model --out build/demo/bundle --overwrite
	$(BIN)/python -m toolkit.cli.demo build/demo/bundle
endif

# tests/cluster is skipped here (with its reason in the summary): it takes 4.5 to 7 minutes here, so it runs
# in `make test-cluster` only.
test: $(STAMP) $(PLUGIN_STAMP)
	$(BIN)/python -m pytest -q -rs
	$(BIN)/python -m pytest -q $(PLUGIN_DIR)/tests

# Ray and Spark clusters across hosts simulated with Linux network namespaces on this machine
# (tests/cluster/: a head, a worker and a driver host, each with its own /tmp, HOME and address).
# Needs root and `ip netns`; skipped with the reason elsewhere. 4.5 to 7 minutes here. Everything it
# creates is removed at the end; what a killed run left is removed by the next one.
test-cluster: $(STAMP)
	TOOLKIT_CLUSTER_TESTS=1 $(BIN)/python -m pytest -q -rs -p no:cacheprovider tests/cluster

# The property tests with 10,000 examples per property (make test runs 50 each).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider --hypothesis-show-statistics tests/test_properties.py

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks.run --quick $(BENCH_ARGS)

# Rebuild the shipped default model from scratch: the default config on the
# polarity corpus, exported with int8 quantization (kept only if accuracy holds).
default-model: $(STAMP)
	$(BIN)/toolkit train --out build/default-model --overwrite --quiet
	$(BIN)/toolkit export build/default-model --out toolkit/serving/models/default --overwrite --quantize int8

clean:
	rm -rf build .pytest_cache
	find exports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +

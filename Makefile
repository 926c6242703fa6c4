# The two commands of the README: `make demo` and `make test`. Both create .venv on first use and
# are quick the second time (the install step reruns only when pyproject.toml changes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO := demo-out

.PHONY: demo test bench gpu-check lint java install classes clean

java:
	@scripts/ensure-java.sh

# --no-compile: byte-compiling every installed file (torch's thousands) is a minute of one core;
# Python compiles what it imports, once. KenLM's tools build on the other core meanwhile.
PIP := $(BIN)/pip install -q --disable-pip-version-check --no-compile

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	scripts/build-kenlm.sh $(VENV) & kenlm=$$!; trap 'kill $$kenlm 2>/dev/null' INT TERM; \
	status=0; \
	$(PIP) -e '.[dev,trainer]' || status=$$?; \
	wait $$kenlm; exit $$status
	touch $(STAMP)

install: $(STAMP)

# The local driver JVM's classes, archived once per Java and Spark install: each local command
# starts about 5 s sooner (pipeline/class_archive.py; about 40 s the first time, then a check).
classes: java install
	$(BIN)/python -m gristmill.pipeline.class_archive

demo: java install classes
	$(BIN)/gristmill sample $(DEMO)/input
	$(BIN)/gristmill train-quality --positive $(DEMO)/input/sample_reference.txt \
		--negative $(DEMO)/input/sample_negative.jsonl --out $(DEMO)/models/quality
	$(BIN)/gristmill train-lm --text $(DEMO)/input/sample_reference.txt --order 5 \
		--out $(DEMO)/models/lm
	$(BIN)/gristmill run --input $(DEMO)/input/sample.warc.gz \
		--benchmark $(DEMO)/input/sample_benchmark.jsonl --config configs/demo.yaml \
		--output $(DEMO)/run
	@echo
	@echo "Demo outputs in $(DEMO)/run:"
	@echo "  DATASET_CARD.md        the dataset card"
	@echo "  stats.json             docs in/out and drops by reason, per stage"
	@echo "  documents/             final documents (Parquet)"
	@echo "  shards/                token shards + manifest.json"
	@echo "  decontamination/       report.json and clean benchmark subsets"
	@echo "  stages/<stage>/        every stage's table, dropped rows included"
	@echo "  ledger.json            inputs and stages done, per batch (run again: only what is new)"
	@echo "Models trained from the sample: $(DEMO)/models/quality, $(DEMO)/models/lm"

# A pytest-xdist worker per core as memory allows (tests/conftest.py), a test file to each.
test: java install classes
	$(BIN)/python -m pytest -q -n auto --dist loadfile

bench: java install classes
	$(PIP) -e '.[bench]'
	$(BIN)/python -m bench.run

# The trainer's speed on this machine's accelerator (GPT-2 124M, bf16, compiled; tiny on a CPU).
gpu-check: install
	$(BIN)/python -m gristmill.trainer.gpu_check --out gpu-check

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	scripts/typecheck.sh $(BIN)/mypy

clean:
	rm -rf $(DEMO) .pytest_cache

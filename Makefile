# spikelite: the two set-up commands are `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TORCH  := torch==2.13.0
PEERS  := snntorch==1.0.0 spikingjelly==2.0.0 norse==1.1.0 nir==1.0.8 nirtorch==2.6 neurobench==2.3.0

.PHONY: demo test bench bench-1t bench-hog bench-bf16 bench-cl lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch first (the CPU build on disk), so the package's torch range installs nothing more.
$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[nir]"
	touch $@

# Test extras, and the peers for the equivalence/parity tests and benchmarks. The peers are
# installed with --no-deps: their declared dependencies pull torchvision/torchaudio and a
# multi-GB torch. (The `neurobench` extra, spikelite[neurobench], declares neurobench plus what
# its import needs, snntorch and tqdm; here it is one of the peers, installed --no-deps.)
# The `triton` extra runs the Triton LIF kernel's tests under its CPU interpreter
# (tests/core/test_triton_lif.py; the wheel is ~285 MB: ~30 s to fetch and install).
$(VENV)/.dev: $(VENV)/.core
	$(BIN)/pip install -q -e ".[dev,mnist,search,triton,postgres]"
	$(BIN)/pip install -q --no-deps $(PEERS)
	$(BIN)/pip install -q loguru tqdm h5py
	touch $@

demo: $(VENV)/.core
	$(BIN)/spikelite demo --out runs/demo

# The import contracts (.importlinter; docs/architecture.md) first, then the test suite.
test: $(VENV)/.dev
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_core.py --baseline

# one thread; a busy-loop process on the other core (contention); bf16 convolutions
bench-1t: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_core.py --baseline --threads 1

bench-hog: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_core.py --baseline --hog

bench-bf16: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_core.py --baseline --bf16-conv

# channels-last feature maps (spikelite-cl; docs/training.md "Feature-map layout")
bench-cl: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_core.py --which A --channels-last --retain-memory
	$(BIN)/python benchmarks/bench_layout.py --quant duq2

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

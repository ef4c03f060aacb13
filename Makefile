# The two set-up commands (README): `make demo` and `make test`. Both install everything first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch/torchvision pinned to the builds this project is tested with (CUDA build, runs on CPU too).
TORCH  ?= torch==2.14.1 torchvision==0.29.1

.PHONY: install demo test lint bench browser slurm clean

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

# A one-node Slurm cluster for tests/test_slurm.py (Debian packages; skipped when not root).
slurm:
	@command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ] || { [ "$$(id -u)" = 0 ] && \
		command -v apt-get >/dev/null 2>&1 && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq munge slurmctld slurmd slurm-client >/dev/null) || \
		echo "Slurm not installed: the Slurm shard test will be skipped"; }

test: install browser slurm
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info runs .pytest_cache

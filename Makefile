# `make demo` and `make test` work on a fresh clone: they create .venv, install torch first when none is
# importable (TORCH_SPEC, the CPU build here), then gankit, then run.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.gankit-installed

.PHONY: demo test install bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install "$(TORCH_SPEC)"
	$(PY) -m pip install -e ".[dev,onnx]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/gankit train wgan_gp_digits --out runs/demo --overwrite
	$(VENV)/bin/gankit eval runs/demo --threads 1
	@echo "samples: runs/demo/samples/ (last grid: $$(ls runs/demo/samples | tail -n 1)); scores: runs/demo/eval.json"

test: $(STAMP)
	@command -v chromium >/dev/null 2>&1 || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
	  || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1)) \
	  || echo "chromium could not be installed: the report's browser test will be skipped"
	$(PY) -m ruff check src tests scripts benchmarks
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs

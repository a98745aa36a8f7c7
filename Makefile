# rehearse — developer and CI entry points. `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
REHEARSE ?= $(PYTHON) -m harness
# The Kubernetes versions the tests need, built once and cached ($(REHEARSE_CACHE_DIR) or ~/.cache/rehearse).
TEST_VERSIONS ?= 1.27 1.28
PYTEST_ARGS ?=

.PHONY: install binaries test test-fast lint demo bench clean-cache

install:
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'

binaries: install
	@for v in $(TEST_VERSIONS); do \
	  $(REHEARSE) binaries ensure --version $$v --components kube-apiserver,kube-controller-manager,kube-scheduler,etcd,kwok,kwokctl,kubectl,helm || exit $$?; \
	done

test: install binaries lint
	$(PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(PYTHON) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(PYTHON) -m ruff check harness tests scripts
	$(PYTHON) -m mypy

demo: install
	$(PYTHON) scripts/demo.py

bench: install binaries
	$(PYTHON) scripts/bench.py

clean-cache:
	rm -rf "$${REHEARSE_CACHE_DIR:-$$HOME/.cache/rehearse}"

# rehearse — developer and CI entry points. `make demo` and `make test` work on a fresh machine.
#
# Every target runs in the project's own virtual environment, .venv: made with `$(PYTHON) -m venv` on first use
# (PYTHON picks the interpreter, python3 by default; naming another one remakes .venv), with rehearse installed
# editable with its dev extras; reinstalled only when pyproject.toml changes (stamp .venv/.installed). Nothing
# is installed into the system interpreter, so an externally managed Python (PEP 668: Debian 12, Ubuntu 23.04+,
# Fedora) works as is. A Python without venv/ensurepip (Debian without python3-venv) stops with one line naming
# the package to install.
PYTHON ?= python3
VENV := .venv
VENV_PYTHON := $(CURDIR)/$(VENV)/bin/python
PIP ?= $(VENV_PYTHON) -m pip
REHEARSE ?= $(VENV_PYTHON) -m harness

# The Kubernetes versions the tests need, built once and cached ($(REHEARSE_CACHE_DIR) or ~/.cache/rehearse):
# 1.27/1.28 for the default rehearsal and the provider tests, 1.24/1.25/1.26/1.29 for the removed-API scenarios
# (1.26 also proves the step-down to the newest buildable patch). Cold, about 5-7 minutes each on 2 cores.
TEST_VERSIONS ?= 1.27 1.28 1.24 1.25 1.26 1.29
# The kind node images the kind end-to-end tests rehearse between (built locally, see e2e-kind below): 1.27/1.28
# for the workload rehearsal, 1.25/1.26 for the add-ons one (kube-state-metrics v2.6.0 loses autoscaling/v2beta2).
KIND_VERSIONS ?= 1.25 1.26 1.27 1.28
PYTEST_ARGS ?=

.PHONY: install tools binaries test test-fast lint demo bench clean-cache

install: $(VENV)/.installed

# Makes (or remakes) .venv when it is missing, broken, or was made by another PYTHON. Its output is empty on success
# and otherwise the one line to stop with: run by $(shell) and stopped by $(error), so that no "make: *** [...]
# Error" line follows it. Debian's venv names the package that has ensurepip (apt install python3.11-venv).
define VENV_SCRIPT
if [ "$$(cat $(VENV)/.python 2>/dev/null)" = '$(PYTHON)' ] && $(VENV_PYTHON) -m pip --version >/dev/null 2>&1; \
  then exit 0; fi; \
command -v '$(PYTHON)' >/dev/null 2>&1 \
  || { echo "no $(PYTHON) found: install Python 3.10 or newer, or name one with make PYTHON=/path/to/python3"; exit; }; \
'$(PYTHON)' -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null \
  || { echo "$(PYTHON) is not Python 3.10 or newer: name one with make PYTHON=/path/to/python3"; exit; }; \
rm -rf $(VENV); \
if out=$$('$(PYTHON)' -m venv $(VENV) 2>&1); then echo '$(PYTHON)' >$(VENV)/.python; \
  echo "make: created $(VENV) with $(PYTHON); installing rehearse and its dev tools into it" >&2; exit 0; fi; \
rm -rf $(VENV); \
case "$$out" in \
  *ensurepip*|*"No module named venv"*) \
    pkg=$$(printf '%s\n' "$$out" | sed -n 's/^ *apt install \(python[0-9.]*-venv\).*/\1/p' | head -n 1); \
    echo "$(PYTHON) has no venv module; install it: apt-get install $${pkg:-python3-venv}";; \
  *) echo "'$(PYTHON) -m venv $(VENV)' failed: $$(printf '%s\n' "$$out" | grep . | tail -n 1)";; \
esac
endef
DRY_RUN := $(findstring n,$(firstword -$(MAKEFLAGS)))
venv_or_stop = $(eval VENV_PROBLEM := $(shell $(VENV_SCRIPT)))$(if $(VENV_PROBLEM),$(error $(VENV_PROBLEM)))

# Remade when pyproject.toml changes, and whenever .venv was made by another PYTHON than the one named now.
ifneq ($(shell cat $(VENV)/.python 2>/dev/null),$(PYTHON))
VENV_STALE := yes
$(VENV)/.installed: venv-python-changed
.PHONY: venv-python-changed
endif
$(VENV)/.installed: pyproject.toml
	$(if $(DRY_RUN),$(if $(VENV_STALE),$(PYTHON) -m venv $(VENV)),$(venv_or_stop))
	$(PIP) install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

# One Go build per version: KIND_VERSIONS also give kubectl and helm (tests) and, where the kind tests can run (root),
# kubelet, kubeadm and kube-proxy for the node images, compiled together with their control plane.
comma := ,
LOCAL_COMPONENTS := kube-apiserver,kube-controller-manager,kube-scheduler,etcd,kwok,kwokctl
KIND_COMPONENTS := $(if $(filter 0,$(shell id -u)),$(comma)kubelet$(comma)kubeadm$(comma)kube-proxy)
binaries: install
	@for v in $(KIND_VERSIONS); do \
	  $(REHEARSE) binaries ensure --version $$v --components $(LOCAL_COMPONENTS),kubectl,helm$(KIND_COMPONENTS) \
	  || exit $$?; done
	@for v in $(TEST_VERSIONS); do $(REHEARSE) binaries ensure --version $$v || exit $$?; done

# System tools some tests drive: rsync (gitlab-ci-local's shell executor copies the project with it) and Debian's
# chromium (Playwright drives report.html in it, executable_path=/usr/bin/chromium; no `playwright install`).
tools:
	@command -v rsync >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq rsync >/dev/null; \
	  else echo "make: the tests need rsync (e.g. apt-get install rsync)" >&2; exit 2; fi; }
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "make: the tests need chromium (e.g. apt-get install chromium)" >&2; exit 2; fi; }

# Every test, the kind end-to-end ones (marker `docker`) included: scripts/kind/with_engine.sh starts a Docker
# engine and builds the kind node images first (needs root; without it those tests report themselves skipped).
test: install tools binaries lint
	PYTHON=$(VENV_PYTHON) KIND_VERSIONS="$(KIND_VERSIONS)" bash scripts/kind/with_engine.sh $(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

test-fast: install
	$(VENV_PYTHON) -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(VENV_PYTHON) -m ruff check harness tests scripts
	$(VENV_PYTHON) -m mypy
	$(VENV_PYTHON) -c 'import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))'

demo: install
	$(REHEARSE) --from 1.27 --to 1.28

bench: install binaries
	$(VENV_PYTHON) scripts/bench.py

clean-cache:
	rm -rf "$${REHEARSE_CACHE_DIR:-$$HOME/.cache/rehearse}"

# Is the committed version catalogue (harness/data/versions.yaml) current with what the Go module proxy serves
# today? Not a test: the answer moves with every upstream release. Exit 1 names what to regenerate.
.PHONY: check-catalogue
check-catalogue: install
	$(VENV_PYTHON) scripts/update_versions.py --check --no-github --output harness/data/versions.yaml

# Which lines of the add-on compatibility table (harness/data/knowledge/addons.yaml) were read before the newest
# Kubernetes minor the version catalogue knows was released, or carry no source_date: the pages to read again. Not a
# test: the answer moves with every upstream release. Exit 1 lists them.
.PHONY: check-addons
check-addons: install
	$(VENV_PYTHON) scripts/check_addons.py

# Regenerate harness/data/knowledge/generated/<minor>.yaml from the Go sources of the newest patch of each minor
# (every component's gates, kubelet and kube-proxy flags and config fields; `go mod download`, nothing built) and,
# where binaries can be had, the binaries themselves (discovery; the flags and gates each refuses). CACHED_ONLY=1
# uses only binaries already in the cache. Review the diff: the committed files are what `rehearse plan` knows.
GENERATE_VERSIONS ?= 1.24 1.25 1.26 1.27 1.28 1.29 1.30 1.31 1.32 1.33 1.34 1.35 1.36 1.37
.PHONY: generate-knowledge
generate-knowledge: install
	$(VENV_PYTHON) scripts/generate_knowledge.py --versions $(GENERATE_VERSIONS) $(if $(CACHED_ONLY),--cached-only,)

# The kind provider end to end on this machine, where no image can be pulled: a Docker engine from Debian (with
# the runtime wrapper this sandbox needs, see scripts/kind/engine.sh), kind node images for 1.27 and 1.28 and a
# workload image assembled locally (scripts/kind/build_images.py, cached by their inputs), then a two-node kind
# cluster at 1.27 upgraded with kubeadm to 1.28 while an HTTP workload is checked through its Service.
# Needs root. Cold about 20 minutes on 2 cores (Go builds, debootstrap), warm about 7.
.PHONY: e2e-kind
e2e-kind: install
	PYTHON=$(VENV_PYTHON) KIND_VERSIONS="$(KIND_VERSIONS)" bash scripts/kind/with_engine.sh \
	  $(VENV_PYTHON) -m pytest tests/kind -p no:cacheprovider $(PYTEST_ARGS)

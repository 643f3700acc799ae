# Lantern: `make run` sets everything up and runs it; `make test` sets up and runs every test.
PY      := .venv/bin/python
VENV    := .venv/.installed
CODEC   := .lantern/codec.built
# Every Python package at one version and hash (dev tools included), for CI and developers alike;
# the runtime part alone for the container image. `make lock` renews both from pyproject.toml.
LOCK         := requirements.lock
RUNTIME_LOCK := requirements-runtime.lock
LOCK_TOOLS   := .lantern/lock-tools/.installed
LOCK_ARGS    ?=
KAFKA   := .lantern/kafka/libs/.installed
JS      := tests/js/node_modules/.installed
BENCH_JS := bench/node_modules/.installed
# eslint for the page's ES modules and its own config, from the root package.json's lockfile
# (`make lint` only: the tests do not need it)
LINT_JS := node_modules/.installed
ESLINT  := node_modules/.bin/eslint --max-warnings=0 api/static eslint.config.js
SYSTEM  := .lantern/system.installed
# the chain's tools from chain/'s lockfile: solc-js and OpenZeppelin (the contract's build),
# anvil (the local EVM node `lantern up` and the tests start)
CHAIN_JS := chain/node_modules/.installed
# A real IPFS node for the tests (tests/integration/test_kubo.py): Kubo, built from the Go
# module proxy at this version (`make kubo`; Go 1.26 or newer).
KUBO_VERSION := v0.42.0
KUBO    := .lantern/kubo/ipfs
# Debian packages the tests and benchmarks use: a real browser for the page, gifsicle to compare,
# Prometheus (its promtool checks the alert rules; the dashboards' queries run on it).
APT_PACKAGES := chromium gifsicle prometheus
PYTEST_ARGS ?=

.PHONY: setup kafka kubo chain contract run test test-unit test-integration lint lint-js fmt type bench lock clean

setup: $(VENV) $(CODEC) $(KAFKA) $(CHAIN_JS)

kafka: $(KAFKA)

# The GIF codec's C loops and the palette's median cut, compiled into render/ by the editable
# install; again when the C changes.
$(CODEC): render/_gifcodec.c render/_mediancut.c $(VENV)
	.venv/bin/pip install -q --no-deps --no-build-isolation -e ".[dev]"
	mkdir -p $(dir $@)
	touch $@

$(VENV): pyproject.toml $(LOCK)
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	# the locked set, hashes checked (setuptools too, which builds the project below)
	.venv/bin/pip install -q -r $(LOCK)
	# the project alone, editable: its packages (lantern, render, streams, api, pinning,
	# monitoring) import from this tree
	.venv/bin/pip install -q --no-deps --no-build-isolation -e ".[dev]"
	.venv/bin/pip check
	touch $@

# Renews the lock files from pyproject.toml (pip-tools, in its own virtualenv). Versions already
# locked stay while pyproject.toml allows them; `make lock LOCK_ARGS=--upgrade` moves every
# package to its newest allowed release, LOCK_ARGS="--upgrade-package aiohttp" one package.
# Resolved for the Python that runs it (3.11, as pyproject.toml requires) on Linux.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(dir $(LOCK_TOOLS))bin/pip-compile -q \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-find-links --no-emit-index-url

lock: $(LOCK_TOOLS)
	$(PIP_COMPILE) $(LOCK_ARGS) --extra dev --build-deps-for editable \
		--output-file $(LOCK) pyproject.toml
	$(PIP_COMPILE) --build-deps-for wheel --constraint $(LOCK) \
		--output-file $(RUNTIME_LOCK) pyproject.toml

$(LOCK_TOOLS):
	python3 -m venv $(dir $@)
	$(dir $@)bin/pip install -q pip==26.3 pip-tools==7.6.2
	touch $@

# The Apache Kafka broker's jars, from Maven Central (streams/kafka/pom.xml).
$(KAFKA): streams/kafka/pom.xml
	mkdir -p $(dir $@)
	mvn -q -B -f streams/kafka/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(abspath $(dir $@))
	touch $@

kubo: $(KUBO)

# Kubo's source module from the Go module proxy, copied out of the read-only module cache and
# built there (`go install …@version` refuses it: its go.mod has exclude directives). The
# binary appears only once built whole; its version beside it rebuilds it when KUBO_VERSION
# changes. The first build takes minutes (on 2 cores: 2½ from Go's module cache, 3½ with the
# downloads); later ones reuse Go's build cache.
ifneq ($(shell cat $(KUBO).version 2>/dev/null),$(KUBO_VERSION))
$(KUBO): FORCE
endif
$(KUBO):
	@command -v go >/dev/null || { echo "Kubo builds with Go 1.26 or newer: https://go.dev/dl/" >&2; exit 1; }
	mkdir -p $(dir $@)
	go mod download -json github.com/ipfs/kubo@$(KUBO_VERSION) > $(dir $@)module.json
	# (an interrupted copy may have left read-only folders behind)
	if [ -d $(dir $@)src ]; then chmod -R u+w $(dir $@)src; fi; rm -rf $(dir $@)src
	cp -R "$$(python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])' \
		< $(dir $@)module.json)" $(dir $@)src
	chmod -R u+w $(dir $@)src
	cd $(dir $@)src && GOFLAGS="-mod=mod -buildvcs=false" go build -o ../ipfs.tmp ./cmd/ipfs
	mv $@.tmp $@
	rm -rf $(dir $@)src
	echo $(KUBO_VERSION) > $@.version

FORCE:

chain: $(CHAIN_JS)

$(CHAIN_JS): chain/package.json chain/package-lock.json
	npm --prefix chain ci --no-audit --no-fund --loglevel=error
	touch $@

# Recompiles chain/contracts/Gen1.sol into chain/artifacts/Gen1.json (committed; a test checks
# the committed file is what this gives).
contract: $(CHAIN_JS)
	node chain/build.mjs

# The independent reference for CIDs (npm's ipfs-unixfs-importer), used by the tests.
$(JS): tests/js/package.json tests/js/package-lock.json
	npm --prefix tests/js ci --no-audit --no-fund --loglevel=error
	touch $@

# Installs the Debian packages once (CI and developers run as root; elsewhere use sudo).
# (again whenever this Makefile changes: a package added to APT_PACKAGES gets installed)
$(SYSTEM): Makefile
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	mkdir -p $(dir $@) && touch $@

run: setup
	.venv/bin/lantern up

test: setup $(JS) $(SYSTEM) $(KUBO)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup $(JS) $(SYSTEM)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup $(KUBO)
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: $(VENV) $(CODEC) $(LINT_JS)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	$(ESLINT)

lint-js: $(LINT_JS)
	$(ESLINT)

$(LINT_JS): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

fmt: $(VENV)
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

type: $(VENV)
	.venv/bin/mypy

# gifski's binary for the encoder comparison (npm's gifski ships it), from bench/'s lockfile.
$(BENCH_JS): bench/package.json bench/package-lock.json
	npm --prefix bench ci --no-audit --no-fund --loglevel=error
	touch $@

bench: setup $(SYSTEM) $(BENCH_JS)
	$(PY) bench/render_speed.py
	$(PY) bench/encoders.py --plot bench/plots

clean:
	rm -rf .venv .lantern node_modules tests/js/node_modules bench/node_modules chain/node_modules

# Lantern: `make run` sets everything up and runs it; `make test` sets up and runs every test.
PY      := .venv/bin/python
VENV    := .venv/.installed
KAFKA   := .lantern/kafka/libs/.installed
JS      := tests/js/node_modules/.installed
BENCH_JS := bench/node_modules/.installed
SYSTEM  := .lantern/system.installed
# Debian packages the tests and benchmarks use: a real browser for the page, gifsicle to compare.
APT_PACKAGES := chromium gifsicle
PYTEST_ARGS ?=

.PHONY: setup run test test-unit test-integration lint fmt type bench clean

setup: $(VENV) $(KAFKA)

$(VENV): pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --upgrade pip
	# compat mode: the project root on sys.path, so render/ streams/ api/ import as they lie
	.venv/bin/pip install -q -e ".[dev]" --config-settings editable_mode=compat
	touch $@

# The Apache Kafka broker's jars, from Maven Central (streams/kafka/pom.xml).
$(KAFKA): streams/kafka/pom.xml
	mkdir -p $(dir $@)
	mvn -q -B -f streams/kafka/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(abspath $(dir $@))
	touch $@

# The independent reference for CIDs (npm's ipfs-unixfs-importer), used by the tests.
$(JS): tests/js/package.json tests/js/package-lock.json
	npm --prefix tests/js ci --no-audit --no-fund --loglevel=error
	touch $@

# Installs the Debian packages once (CI and developers run as root; elsewhere use sudo).
$(SYSTEM):
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi
	mkdir -p $(dir $@) && touch $@

run: setup
	.venv/bin/lantern up

test: setup $(JS) $(SYSTEM)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup $(JS) $(SYSTEM)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-integration: setup
	$(PY) -m pytest tests/integration $(PYTEST_ARGS)

lint: $(VENV)
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

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
	$(PY) bench/encoders.py

clean:
	rm -rf .venv .lantern tests/js/node_modules bench/node_modules

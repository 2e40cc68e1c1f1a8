# Two entry points: `make demo` runs the service on demo data, `make test` runs the tests.
# Both install what they need (virtualenv, pip packages, redis-server; for the tests also Debian's
# Chromium, which the dashboard's browser tests drive) on a fresh Debian machine;
# `make bench` also installs wrk, the HTTP load generator of the serving benchmark.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DATA_DIR ?= data/demo

.PHONY: demo test test-slow bench soak redis-server wrk java chromium dashboard-docs clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,bench]'
	touch $@

# The Spark trainer (RECS_TRAINER=spark) and its slow tests: the extra, and Java from Debian.
$(VENV)/.spark-installed: $(VENV)/.installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,bench,spark]'
	touch $@

java:
	@command -v java >/dev/null 2>&1 || { \
		echo "installing a Java runtime with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jre-headless >/dev/null; }

redis-server:  # redis-cli (Debian's redis-tools) too: tests/cluster forms a cluster with it
	@{ command -v redis-server && command -v redis-cli; } >/dev/null 2>&1 || { \
		echo "installing redis-server and redis-tools with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null; }

chromium:  # the browser of the dashboard's tests: Playwright's own browser download cannot work here
	@test -x /usr/bin/chromium || { \
		echo "installing chromium with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

wrk:  # the HTTP load generator benchmarks.serve drives the service with
	@command -v wrk >/dev/null 2>&1 || { \
		echo "installing wrk with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

demo: $(VENV)/.installed redis-server
	$(PY) -m service.demo --data-dir $(DATA_DIR)

test: $(VENV)/.installed redis-server chromium
	$(PY) -m pytest -q

# The dashboard's screenshots in docs/dashboard/ and its first-render times on the demo store, both from
# the browser test that opens every page at 1280 and 390 px.
dashboard-docs: $(VENV)/.installed redis-server chromium
	ENCORE_SCREENSHOTS=docs/dashboard ENCORE_DASHBOARD_TIMES=benchmarks/results/dashboard_demo.md \
		$(PY) -m pytest -q -s tests/service/dashboard -k every_page

test-slow: $(VENV)/.installed $(VENV)/.spark-installed redis-server java
	$(PY) -m pytest -q -m slow

bench: $(VENV)/.installed redis-server wrk chromium
	$(PY) -m benchmarks.quality
	$(PY) -m benchmarks.next_basket
	$(PY) -m benchmarks.scale
	$(PY) -m benchmarks.serve
	$(PY) -m benchmarks.dashboard

soak: $(VENV)/.installed redis-server
	$(PY) -m benchmarks.soak

clean:
	rm -rf $(VENV) data .pytest_cache

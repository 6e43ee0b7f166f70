# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: run test install install-dev browser e2e unit bench clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: create .venv, install pinned requirements, open the app on the sample shop
run: install
	$(PY) -m streamlit run app.py --server.port $(PORT)

## the browser the end-to-end test drives (Debian's chromium; Playwright cannot download its own here)
browser:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

## make test: the same install plus test tools, then the whole suite (unit, AppTest, real browser)
test: install-dev browser
	$(PY) -m pytest -q

unit: install-dev
	$(PY) -m pytest -q -m "not e2e"

## make bench: generated shops of 1M and 10M events; writes docs/benchmarks.md (BENCH="1M,10M,100M" for more)
BENCH ?= 1M,10M
bench: install-dev
	$(PY) -m journey.bench --events $(BENCH)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

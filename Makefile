# Two commands for a newcomer: `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
VENDOR := qrplatform/static/vendor

.PHONY: run test install install-dev assets system-packages migrate lint bench clean

run: install assets migrate
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install-dev assets system-packages
	$(BIN)/python -m pytest $(PYTEST_ARGS)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

# The stamp files make a second `make run` start at once; they are redone when setup.cfg changes.
$(VENV)/.installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

# htmx, Pico CSS, Chart.js, the Lucide icons, the Inter typeface (and axe-core, for the
# accessibility tests only): pinned in package.json, installed from npm, copied next to our own
# static files. Nothing is fetched from a CDN at run time.
AXE := qrplatform/testing/vendor/axe.min.js
$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/lucide $(VENDOR)/fonts $(dir $(AXE))
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/
	cp node_modules/chart.js/dist/chart.umd.js $(VENDOR)/chart.umd.js
	cp node_modules/lucide-static/icons/*.svg node_modules/lucide-static/LICENSE $(VENDOR)/lucide/
	cp node_modules/@fontsource-variable/inter/files/inter-latin-wght-normal.woff2 $(VENDOR)/fonts/
	cp node_modules/axe-core/axe.min.js $(AXE)
	touch $@

assets: $(VENDOR)/.stamp

# Debian packages the tests drive for real: chromium (Playwright), nginx (proxy test), wrk (bench).
system-packages:
	@missing=""; for p in chromium nginx wrk; do command -v $$p >/dev/null || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q $$missing || (apt-get update -q && apt-get install -y -q $$missing); \
	  else sudo apt-get install -y -q $$missing; fi; \
	fi

migrate: install
	$(FLASK) db upgrade

lint: install-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) node_modules $(VENDOR) $(dir $(AXE)) instance *.egg-info

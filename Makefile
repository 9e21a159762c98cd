# Two commands for a newcomer: `make run` and `make test` (see README.md).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
VENDOR := qrplatform/static/vendor
# The published microsites' own files: their web fonts and the social networks' icons.
MS_VENDOR := plugins/qrp_microsites/static/vendor
MS_FONTS  := inter lora nunito jetbrains-mono playfair-display
MS_SOCIAL := instagram facebook x tiktok youtube whatsapp telegram pinterest snapchat threads \
             mastodon bluesky github spotify soundcloud twitch discord
# One pytest-xdist worker per core: each gets its own database and Redis index (the test
# fixtures derive them), and half the suite waits on browsers and subprocesses anyway.
TEST_WORKERS ?= 2

.PHONY: run test install install-dev assets system-packages migrate lint bench clean

run: install assets migrate
	$(FLASK) run --host 127.0.0.1 --port 5000

test: install-dev assets system-packages
	$(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

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

# htmx, Pico CSS, Chart.js, SortableJS (drag to reorder), the Lucide icons, the Inter typeface
# (and axe-core, for the accessibility tests only): pinned in package.json, installed from npm,
# copied next to our own static files. Nothing is fetched from a CDN at run time.
AXE := qrplatform/testing/vendor/axe.min.js
$(VENDOR)/.stamp: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/lucide $(VENDOR)/fonts $(dir $(AXE))
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/
	cp node_modules/chart.js/dist/chart.umd.js $(VENDOR)/chart.umd.js
	cp node_modules/sortablejs/Sortable.min.js $(VENDOR)/sortable.min.js
	cp node_modules/lucide-static/icons/*.svg node_modules/lucide-static/LICENSE $(VENDOR)/lucide/
	cp node_modules/@fontsource-variable/inter/files/inter-latin-wght-normal.woff2 $(VENDOR)/fonts/
	cp node_modules/axe-core/axe.min.js $(AXE)
	rm -rf $(MS_VENDOR) && mkdir -p $(MS_VENDOR)/fonts $(MS_VENDOR)/social
	for f in $(MS_FONTS); do cp node_modules/@fontsource-variable/$$f/files/$$f-latin-wght-normal.woff2 $(MS_VENDOR)/fonts/; done
	for n in $(MS_SOCIAL); do cp node_modules/simple-icons/icons/$$n.svg $(MS_VENDOR)/social/; done
	cp node_modules/simple-icons/LICENSE.md $(MS_VENDOR)/social/
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

# Two commands for a fresh machine (both safe to repeat):
#   make demo   set up and run the server on the demo defaults
#   make test   set up and run the checks: ruff, mypy, then pytest
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CJK font that signed documents embed (server/core/pdf.py), from Debian's package, pinned.
CJK_FONT := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc
CJK_FONT_PACKAGE := fonts-wqy-microhei=0.2.0-beta-3.1
PORT   ?= 8000
SIZE   ?= demo

.PHONY: setup demo test fuzz lint format bench indexes

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

$(CJK_FONT):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -qq --no-install-recommends $(CJK_FONT_PACKAGE) >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(CJK_FONT_PACKAGE) >/dev/null; }; \
	else \
	  echo "note: install the CJK font for agreements as root: apt-get install $(CJK_FONT_PACKAGE)"; \
	fi

# Optional Debian packages for some tests, installed when `make test` runs as root: $(call optional,package,what
# goes without it). A machine without them still runs the rest of the suite.
define optional
@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
  apt-get install -y -qq --no-install-recommends $(1) >/dev/null 2>&1 || \
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(1) >/dev/null; } || \
  echo "note: $(1) could not be installed; $(2)"; \
else \
  echo "note: install $(1) as root (apt-get install $(1)), or $(2)"; \
fi
endef

# nginx, only so that the tests can run `nginx -t` on the deployment guide's site (tests/test_deploy.py).
NGINX := /usr/sbin/nginx
$(NGINX):
	$(call optional,nginx-light,tests/test_deploy.py skips its nginx -t check)

# Debian's Chromium, only for the console's browser tests (tests/test_console.py, through Playwright).
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(call optional,chromium,the console's browser tests skip)

setup: $(STAMP) $(CJK_FONT)

demo: setup
	$(BIN)/python -m server --demo --demo-size $(SIZE) --port $(PORT)

test: setup $(NGINX) $(CHROMIUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

# Schemathesis over the whole API document as every role (about ten minutes; `make test` runs four roles).
fuzz: setup
	FUZZ_ROLES=all FUZZ_EXAMPLES=5 $(BIN)/python -m pytest tests/test_fuzz.py

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python -m scripts.bench

indexes: setup
	$(BIN)/python -m scripts.ensure_indexes

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

# nginx, only so that the tests can run `nginx -t` on the deployment guide's site (tests/test_deploy.py);
# without it that one check is skipped.
NGINX := /usr/sbin/nginx
NGINX_PACKAGE := nginx-light

$(NGINX):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get install -y -qq --no-install-recommends $(NGINX_PACKAGE) >/dev/null 2>&1 || \
	  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(NGINX_PACKAGE) >/dev/null; } || \
	  echo "note: nginx could not be installed; tests/test_deploy.py skips its nginx -t check"; \
	else \
	  echo "note: install nginx as root to check the deployment guide's site: apt-get install $(NGINX_PACKAGE)"; \
	fi

setup: $(STAMP) $(CJK_FONT)

demo: setup
	$(BIN)/python -m server --demo --demo-size $(SIZE) --port $(PORT)

test: setup $(NGINX)
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

# Two entry points (see README): `make book` and `make test`. Each creates the virtual
# environment it needs in .venv (torch first, pinned, so pip never fetches another build).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
SCALE  ?= smoke
DEVICE ?= auto

.PHONY: book test env browser notebooks clean

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

env: $(VENV)/.installed

# Train what is missing (smoke scale: minutes on a CPU), execute every chapter with papermill,
# render with jupyter-book (warnings are errors). Site: _build/html/index.html
book: env
	$(PY) book/build.py --scale $(SCALE) --device $(DEVICE)

# Headless Chromium for the site test (Debian's package; needs root or sudo on a fresh machine).
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	    $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }

$(VENV)/.installed-test: $(VENV)/.installed requirements-test.txt
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $@

# Unit tests, the engine equivalence, Ray, a smoke-scale book build and a headless-browser check of it.
test: $(VENV)/.installed-test browser
	$(PY) -m pytest -q

# Regenerate notebooks/*.ipynb from their paired .py sources (the .py files are the source of truth).
notebooks: env
	$(VENV)/bin/jupytext --sync notebooks/*.py

clean:
	rm -rf _build book/chapters

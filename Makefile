# Two commands for a fresh machine: `make run` and `make test`.
# `make test-fast` lints and runs every test not marked slow, browser or postgres, in under a minute.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast lint bench chromium clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/oioi-onboard run

# The end-to-end browser test uses Debian's chromium; never a downloaded browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: apt-get install chromium (the browser test will say so)"; fi; }

lint: $(STAMP)
	$(VENV)/bin/ruff check .

test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest

# Two workers, each taking whole test files in order (--dist loadfile), as a serial run would.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -m "not slow and not browser and not postgres" -n 2 --dist loadfile

bench: $(STAMP)
	for b in bench/bench_*.py; do PYTHONPATH=app $(PY) $$b || exit 1; done  # pages import `common`, as under Streamlit

clean:
	rm -rf $(VENV) .data

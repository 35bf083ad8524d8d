# Two commands matter: `make demo` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export MELTANO_CLI_DISABLE_VERSION_CHECK := true
# Meltano 4 logs go under ~/.local/state by default; keep them inside the project.
export XDG_STATE_HOME := $(CURDIR)/.meltano/xdg-state

PACKAGES := sandbox tap-dynamics365
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider

.PHONY: install demo test test-unit test-e2e lint lock sandbox bench clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements/lock.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.8
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements/lock.txt \
		$(foreach p,$(PACKAGES),-e './$(p)[test]')
	touch $@

lock: ## re-resolve pinned versions after changing a dependency
	$(BIN)/uv pip compile -q --universal requirements/dev.in -o requirements/lock.txt

demo: install ## start the sandbox, run every pipeline, print a summary, stop the sandbox
	$(BIN)/python scripts/demo.py

test: test-unit test-e2e ## the whole suite (CI runs this)

test-unit: install
	set -e; for p in $(PACKAGES); do echo "== $$p"; (cd $$p && ../$(PYTEST) tests); done

test-e2e: install
	$(PYTEST) tests

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy $(foreach p,$(PACKAGES),$(p)/$(subst -,_,$(p)))

sandbox: install ## run the sandbox in the foreground for manual use
	$(BIN)/crm-sandbox serve

bench: install
	$(BIN)/python bench/tap_dynamics365.py

clean:
	rm -rf $(VENV) .meltano .sandbox output

# Two commands matter: `make demo` and `make test`. Everything else is a step they use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export MELTANO_SEND_ANONYMOUS_USAGE_STATS := false
export MELTANO_CLI_DISABLE_VERSION_CHECK := true
# Meltano 4 logs go under ~/.local/state by default; keep them inside the project.
export XDG_STATE_HOME := $(CURDIR)/.meltano/xdg-state
# Meltano writes each plugin's config, secrets included, under .meltano/run/ and a killed run
# leaves it there: every recipe that runs Meltano does so with umask 077 (owner-only files).
PRIVATE := umask 077 &&

# Local packages: the four plugins, one client package per vendor and the vendor-neutral
# support package they share, the sandbox, and the JSON Lines loader the d365-to-jsonl job and
# its tests use (a test/demo helper, hence under tests/). TESTED: those with a tests/ folder.
PLUGINS := tap-dynamics365 tap-adobe-campaign target-adobe-campaign target-dynamics365
LIBRARIES := clients/dataverse
TESTED := support clients/campaign sandbox $(PLUGINS) tests/target-jsonl
PACKAGES := $(LIBRARIES) $(TESTED)
MODULES := support/sync_support clients/dataverse/dataverse_client \
	clients/campaign/campaign_client sandbox/crm_sandbox tap-dynamics365/tap_dynamics365 \
	tap-adobe-campaign/tap_adobe_campaign target-adobe-campaign/target_adobe_campaign \
	target-dynamics365/target_dynamics365 \
	tests/target-jsonl/target_jsonl_lite
PYTEST := $(CURDIR)/$(BIN)/python -m pytest -q -p no:cacheprovider
# Typed Python outside the packages: the demo, the end-to-end tests, the benchmarks, the
# orchestrator examples.
TOOLS_PY := scripts tests/*.py bench orchestration/airflow/*.py orchestration/dagster/*.py

.PHONY: install plugins demo test test-unit test-e2e lint lock sandbox bench replay check clean

# Bytecode is compiled at install time: machines that export PYTHONDONTWRITEBYTECODE (these do)
# would otherwise recompile every import at each plugin start (tap --help: 1.4 s -> 0.7 s).
install: $(VENV)/.installed ## the project venv: Meltano, tools, and every package editable

$(VENV)/.installed: requirements/lock.txt $(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.9
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements/lock.txt \
		$(foreach p,$(LIBRARIES),-e './$(p)') $(foreach p,$(TESTED),-e './$(p)[test]')
	$(BIN)/python -m compileall -q $(MODULES) > /dev/null
	touch $@

plugins: .meltano/.plugins-installed ## Meltano's plugin venvs (.meltano/), pinned by the lock file

.meltano/.plugins-installed: $(VENV)/.installed meltano.yml requirements/lock.txt \
		$(foreach p,$(PACKAGES),$(p)/pyproject.toml)
	$(PRIVATE) $(BIN)/meltano install
	touch $@

lock: ## re-resolve pinned versions after changing a dependency
	$(BIN)/uv pip compile -q --universal requirements/dev.in -o requirements/lock.txt

demo: plugins ## start the sandbox, run every pipeline, print a summary, stop the sandbox
	$(PRIVATE) $(BIN)/python -m scripts.demo

test: test-unit test-e2e ## the whole suite (CI runs this)

# Unit tests in two groups of about equal length, run side by side (one per core); each
# group's output is printed when both are done.
UNIT_GROUP_A := sandbox tap-adobe-campaign clients/campaign
UNIT_GROUP_B := support tap-dynamics365 target-adobe-campaign target-dynamics365 tests/target-jsonl
ifneq ($(sort $(UNIT_GROUP_A) $(UNIT_GROUP_B)),$(sort $(TESTED)))
$(error UNIT_GROUP_A and UNIT_GROUP_B must share out exactly the TESTED packages)
endif

test-unit: install ## each package's unit tests
	@logs=$$(mktemp -d); \
	group() { for p in "$$@"; do echo "== $$p"; (cd $$p && $(PYTEST) tests) || return 1; done; }; \
	group $(UNIT_GROUP_A) > $$logs/a.log 2>&1 & a=$$!; \
	group $(UNIT_GROUP_B) > $$logs/b.log 2>&1 & b=$$!; \
	ra=0; wait $$a || ra=$$?; rb=0; wait $$b || rb=$$?; \
	cat $$logs/a.log $$logs/b.log; rm -rf $$logs; \
	test $$ra -eq 0 && test $$rb -eq 0

test-e2e: install ## real `meltano run` pipelines against the sandbox, two workers (each installs the plugins in a temp project)
	$(PRIVATE) $(PYTEST) --timeout=600 -n 2 --dist worksteal tests

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy $(MODULES) $(TOOLS_PY)

sandbox: install ## run the sandbox in the foreground for manual use
	$(BIN)/crm-sandbox serve

bench: install ## tap-dynamics365 vs a plain requests loop (ROWS=100000); d365-to-campaign job (CONTACTS=20000); target-adobe-campaign on v8 (CONTACTS=20000); target-dynamics365 (EVENTS=100000)
	$(PRIVATE) $(BIN)/python -m bench.tap_dynamics365 $(if $(ROWS),--rows $(ROWS))
	$(PRIVATE) $(BIN)/python -m bench.target_adobe_campaign $(if $(CONTACTS),--contacts $(CONTACTS))
	$(PRIVATE) $(BIN)/python -m bench.target_adobe_campaign_v8 $(if $(CONTACTS),--contacts $(CONTACTS))
	$(PRIVATE) $(BIN)/python -m bench.target_dynamics365 $(if $(EVENTS),--events $(EVENTS))

# `--config ENV` on the command line: Meltano runs an extractor's discovery before a command
# invoked without arguments, and a check must run (and exit 2 on a config error) when discovery
# cannot. The settings come from the environment's variables either way.
check: plugins ## the four plugins' connection checks against the dev environment (`make sandbox` in another shell)
	set -e; $(PRIVATE) for p in $(PLUGINS); do echo "== $$p"; $(BIN)/meltano invoke $$p:check --config ENV; done

replay: plugins ## re-read one stream of a job from scratch: make replay JOB=d365-to-campaign STREAM=contact
	$(PRIVATE) $(BIN)/python -m scripts.replay --job $(JOB) --stream $(STREAM) $(if $(ENV),--environment $(ENV))

clean:
	rm -rf $(VENV) .meltano .sandbox output

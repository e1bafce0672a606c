# Two commands for a fresh clone: `make demo` and `make test`. Everything else is set up on demand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup demo test tools lint typecheck unit bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/asm demo

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy src

unit: $(STAMP)
	$(BIN)/pytest

# The pinned agent CLIs the provider tests drive against the fake model server, installed into a
# git-ignored project folder (never globally) and reused while the versions match. Without npm the
# real-CLI tests skip, except under CI=true, where they must run.
TOOLS := .tools/npm
CLAUDE_CODE_VERSION := 2.1.331
CODEX_VERSION := 0.169.0
CLAUDE_ACP_VERSION := 0.16.2
CODEX_ACP_VERSION := 0.16.0
# The legacy Amp: today's Amp runs its agent loop on Amp's servers and cannot be faked.
AMP_VERSION := 0.0.1767830505-ga62310

tools:
	@if ! command -v npm >/dev/null 2>&1; then \
	  if [ "$$CI" = "true" ]; then echo "npm is required under CI=true (real-CLI tests)" >&2; exit 1; fi; \
	  echo "npm not found: the real-CLI provider tests will be skipped"; exit 0; \
	fi; \
	if grep -qs '"version": "$(CLAUDE_CODE_VERSION)"' $(TOOLS)/node_modules/@anthropic-ai/claude-code/package.json \
	  && grep -qs '"version": "$(CODEX_VERSION)"' $(TOOLS)/node_modules/@openai/codex/package.json \
	  && grep -qs '"version": "$(CLAUDE_ACP_VERSION)"' $(TOOLS)/node_modules/@zed-industries/claude-code-acp/package.json \
	  && grep -qs '"version": "$(CODEX_ACP_VERSION)"' $(TOOLS)/node_modules/@zed-industries/codex-acp/package.json \
	  && grep -qs '"version": "$(AMP_VERSION)"' $(TOOLS)/node_modules/@sourcegraph/amp/package.json \
	  && [ -x $(TOOLS)/node_modules/.bin/claude ] && [ -x $(TOOLS)/node_modules/.bin/codex ]; then \
	  echo "agent CLIs up to date in $(TOOLS)"; \
	else \
	  mkdir -p $(TOOLS) && npm install --prefix $(TOOLS) --no-audit --no-fund --no-save --loglevel=error \
	    @anthropic-ai/claude-code@$(CLAUDE_CODE_VERSION) @openai/codex@$(CODEX_VERSION) \
	    @zed-industries/claude-code-acp@$(CLAUDE_ACP_VERSION) @zed-industries/codex-acp@$(CODEX_ACP_VERSION) \
	    @sourcegraph/amp@$(AMP_VERSION); \
	fi

test: tools lint typecheck unit

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache

# The two commands a newcomer needs: `make serve` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve analyze test lint browser bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

serve: $(STAMP)  ## start the REST API on the embedded defaults (CPU, in-process)
	$(BIN)/deepfake-stream serve $(if $(CONFIG),--config $(CONFIG))

analyze: $(STAMP)  ## make analyze FILE=path/to/video.mp4
	$(BIN)/deepfake-stream analyze $(FILE)

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

# The browser tests drive Debian's Chromium (Playwright never downloads one). Installed here
# when missing and apt-get can run as root; elsewhere those tests skip and say why.
browser:
	@if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
		&& [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	fi

test: lint browser  ## lint, type-check and run the whole test suite
	$(BIN)/pytest

bench: $(STAMP)  ## time every stage on ../shared/media
	$(BIN)/deepfake-stream bench --media ../shared/media

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .cache

# The ops console (tools/console): its browser tests need Debian's chromium; Playwright drives it, never downloads one.
# Its graph is laid out by elkjs under node: `npm ci` installs the version package-lock.json pins, from the registry,
# once per change of the lock file; nothing is fetched when the console runs.
.PHONY: browser-deps layout-deps test-console screenshots

ELK_DIR := tools/console/elk
ELK_STAMP := $(ELK_DIR)/node_modules/.installed

browser-deps: ## Install Debian's chromium for the console's browser tests when it is missing
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

$(ELK_STAMP): $(ELK_DIR)/package.json $(ELK_DIR)/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	npm ci --prefix $(ELK_DIR) --no-audit --no-fund --loglevel=error
	touch $(ELK_STAMP)

layout-deps: $(ELK_STAMP) ## Install elkjs (npm ci in tools/console/elk), which lays out the console's graph

install: layout-deps
run: layout-deps
test: browser-deps layout-deps
bench: browser-deps layout-deps

test-console: $(STAMP) browser-deps layout-deps ## The ops console: graph model, layout, and browser tests in headless Chromium
	$(BIN)/pytest tests/console

screenshots: $(STAMP) browser-deps layout-deps ## Refresh the README's console screenshots under docs/
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/console/test_browser.py

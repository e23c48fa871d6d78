# The ops console (local/console): its browser tests need Debian's chromium; Playwright drives it, never downloads one.
.PHONY: browser-deps test-console screenshots

browser-deps: ## Install Debian's chromium for the console's browser tests when it is missing
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium)

test: browser-deps

test-console: $(STAMP) browser-deps ## The ops console: graph model, layout, and browser tests in headless Chromium
	$(BIN)/pytest tests/console

screenshots: $(STAMP) browser-deps ## Refresh the README's console screenshots under docs/
	UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/console/test_browser.py

# The sample storefront (examples/storefront): `npm ci` installs amazon-cognito-identity-js and esbuild at the versions
# package-lock.json pins, from the registry, once per change of the lock file; esbuild bundles the page's modules into
# dist/, which `orders up --storefront` serves beside the stack. Nothing is fetched when the page runs.
.PHONY: storefront storefront-build test-storefront

STOREFRONT_DIR := examples/storefront
STOREFRONT_STAMP := $(STOREFRONT_DIR)/node_modules/.installed
STOREFRONT_BUNDLE := $(STOREFRONT_DIR)/dist/storefront.js

$(STOREFRONT_STAMP): $(STOREFRONT_DIR)/package.json $(STOREFRONT_DIR)/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	npm ci --prefix $(STOREFRONT_DIR) --no-audit --no-fund --loglevel=error
	touch $(STOREFRONT_STAMP)

$(STOREFRONT_BUNDLE): $(STOREFRONT_STAMP) $(wildcard $(STOREFRONT_DIR)/src/*.js)
	npm run --prefix $(STOREFRONT_DIR) --silent build

storefront-build: $(STOREFRONT_BUNDLE) ## Bundle the sample storefront (npm ci and esbuild in examples/storefront)

storefront: $(STAMP) storefront-build ## Run the stack with the sample storefront (http://127.0.0.1:5173); Ctrl-C stops it
	$(BIN)/orders up --storefront

test: storefront-build
bench: storefront-build

test-storefront: $(STAMP) browser-deps storefront-build ## The sample storefront in headless Chromium, against orders up
	$(BIN)/pytest tests/storefront

# The web console (console/): `npm ci` and the Vite build into console/dist, which the API serves at /konsoll/.
# Included from the Makefile (after BIN and STAMP); `make install` depends on `console`, and so does `make test`
# (the browser tests in tests/console need the build and Debian's Chromium).
#
# The build generates the API's TypeScript types from the app's OpenAPI document (console/scripts/openapi.mjs,
# with the venv's Python), so it runs again when the Python code behind the API changes: a change of the
# contract the console does not follow fails here, at `tsc`.
KONSOLL := console
KONSOLL_KILDER := $(shell find $(KONSOLL)/src $(KONSOLL)/scripts -type f -not -name schema.d.ts 2>/dev/null) \
	$(KONSOLL)/index.html $(KONSOLL)/vite.config.ts $(KONSOLL)/tsconfig.json $(KONSOLL)/package.json
KONSOLL_API := $(shell find api store domain -name '*.py' 2>/dev/null)
CHROMIUM ?= /usr/bin/chromium

.PHONY: console console-browser

console: $(KONSOLL)/dist/index.html console-browser

$(KONSOLL)/node_modules/.package-lock.json: $(KONSOLL)/package-lock.json
	cd $(KONSOLL) && npm ci --no-audit --no-fund
	touch $@

$(KONSOLL)/dist/index.html: $(KONSOLL)/node_modules/.package-lock.json $(KONSOLL_KILDER) $(KONSOLL_API) $(STAMP)
	cd $(KONSOLL) && FORLOP_PYTHON=$(abspath $(BIN)/python) npm run build

# Playwright drives Debian's Chromium (its own browser download does not work on these machines).
console-browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "console: $(CHROMIUM) is missing: installing Debian's chromium for the browser tests (apt-get install -y chromium)"; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get install -y chromium; fi; \
	fi

test: console

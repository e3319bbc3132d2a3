# mk/web.mk -- the web playground (clients/web, served by gradd at /).
#
#   make test-browser   (part of `make test`, about half a minute)
#                       tests/browser: Debian's chromium, headless, driven
#                       by playwright-core (npm, pinned in package-lock.json,
#                       installed with `npm ci`; no browser download) clicks
#                       through the graph and training views of a build/gradd
#                       started on a free port, asserts on what is drawn and
#                       saves screenshots in build/browser/
#

TEST_EXTRA += test-browser
DEPS_EXTRA += chromium fonts-dejavu-core nodejs

.PHONY: test-browser
test-browser: $(GRADD)
	@tests/browser/run.sh $(GRADD)


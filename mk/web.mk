# mk/web.mk -- the web playground (clients/web, served by gradd at /).
#
#   make test-browser   (part of `make test`, about a minute and a half)
#                       tests/browser: Debian's chromium, headless, driven
#                       by playwright-core (npm, pinned in package-lock.json,
#                       installed with `npm ci`; no browser download) clicks
#                       through the graph and training views of a build/gradd
#                       started on a free port, at 1400 and 400 px widths
#                       (every node inside the drawing, text legible), the
#                       step-through, the exports, streamed training,
#                       divergence and a CSV upload; asserts on what is
#                       drawn and saves screenshots in build/browser/
#

TEST_EXTRA += test-browser
DEPS_EXTRA += chromium fonts-dejavu-core nodejs

.PHONY: test-browser
test-browser: $(GRADD)
	@tests/browser/run.sh $(GRADD)


# mk/readme.mk -- README.md's commands (part of `make test`).
#
#   make test-readme   tests/readme/run.py: every command block of README.md
#                      (each marked <!-- readme-test: KIND --> above its
#                      fence) run as a user would, against a daemon on a
#                      free port: the curl lines with their answers, the
#                      Python training example on scikit-learn's digits,
#                      `make run`, the deployment commands checked without
#                      a container engine; relative links of README.md and
#                      docs/*.md must name files that exist.
TEST_EXTRA += test-readme
DEPS_EXTRA += curl python3 python3-numpy python3-sklearn python3-yaml python3-torch

.PHONY: test-readme
test-readme: $(GRADD)
	@/usr/bin/python3 tests/readme/run.py $(GRADD)

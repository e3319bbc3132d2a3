# mk/parity.mk -- values and gradients against PyTorch (part of `make test`).
#
#   make test-parity   tests/parity/run.py with Debian's python3-torch: every
#                      case of tests/parity/cases_*.py in float64 and float32
#                      through one build/gradd serve, compared with torch
#                      (1e-9 relative in float64; 1e-5 abs + 1e-4 rel in
#                      float32). PARITY_ARGS="-k gelu -v" narrows and shows.
TEST_EXTRA += test-parity
DEPS_EXTRA += python3 python3-numpy python3-torch

.PHONY: test-parity
test-parity: $(GRADD)
	@/usr/bin/python3 tests/parity/run.py --gradd $(GRADD) $(PARITY_ARGS)

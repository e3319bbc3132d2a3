# mk/models.mk -- the example models against PyTorch (part of `make test`).
#
#   make test-models   tests/models/run.py: clients/examples/cnn-step and
#                      gpt-step trained for 20 SGD steps in gradd (`gradd run
#                      step`) and in Debian's python3-torch from the same
#                      initial weights; the loss curves compared (see the
#                      script for the float32 rule).
TEST_EXTRA += test-models
DEPS_EXTRA += python3 python3-torch

.PHONY: test-models
test-models: $(GRADD)
	@/usr/bin/python3 tests/models/run.py $(GRADD)

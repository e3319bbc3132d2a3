# mk/onnx.mk -- the ONNX front-end (api/onnx/) against ONNX's own tests
# (part of `make test`).
#
#   make test-onnx   tests/onnx/run_node_tests.py: every model of Debian's
#                    libonnx-testdata (node, pytorch-converted,
#                    pytorch-operator, simple) through `gradd run forward`,
#                    compared at ONNX's tolerances; prints passed, failed
#                    and unsupported per op type and the op types still
#                    unsupported. Fails on a failure not listed in
#                    tests/onnx/known_failures.txt. ONNX_ARGS="-k conv -v"
#                    narrows and shows.
#                    tests/onnx/run_models.py: torch.onnx.export'ed models
#                    (an MLP, a CNN with batch norm, resnet18,
#                    mobilenet_v2, a transformer encoder layer; random
#                    weights) through forward, gradient and five SGD
#                    steps, against torch in float32 and float64.
#                    tests/onnx/gridsample_vs_torch.py: GridSample's values
#                    and gradients (X and grid) against torch's
#                    grid_sample, every mode, padding and align_corners.
#                    tests/onnx/test_export.py: ONNX export (gradient-graph
#                    "format": "onnx", step "export": "onnx") of those
#                    models and of the golden cases' graphs: the checker,
#                    the gradients posted back and by ONNX's semantics.
TEST_EXTRA += test-onnx
DEPS_EXTRA += libonnx-testdata python3-onnx python3-numpy python3-torch python3-torchvision

.PHONY: test-onnx
test-onnx: $(GRADD)
	@/usr/bin/python3 tests/onnx/run_node_tests.py --gradd $(GRADD) $(ONNX_ARGS)
	@/usr/bin/python3 tests/onnx/run_models.py --gradd $(GRADD)
	@/usr/bin/python3 tests/onnx/test_export.py --gradd $(GRADD)
	@/usr/bin/python3 tests/onnx/gridsample_vs_torch.py --gradd $(GRADD)

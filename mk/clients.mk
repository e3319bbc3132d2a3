# mk/clients.mk -- the clients (clients/curl, clients/python, clients/js,
# clients/c; test-http's binaries link clients/c as well).
#
#   make test-clients   start gradd on free ports and run the curl examples,
#                       the Python client's tests (with numpy and with numpy
#                       hidden), the C client's tests (tests/clients/
#                       test_c_client.c), the JS client's tests and types, and the
#                       commands of clients/README.md against it
#   make bench          also runs tools/bench-digits: the digits training
#                       loop through the Python client against PyTorch's
#                       in-process loop, side by side
#

TEST_EXTRA += test-clients
DEPS_EXTRA += curl python3 python3-numpy python3-sklearn python3-venv nodejs libcurl4-openssl-dev

.PHONY: test-clients bench-digits
test-clients: $(GRADD)
	@tests/clients/run.sh $(GRADD)

bench: bench-digits
bench-digits: $(GRADD)
	@tools/bench-digits $(GRADD)

# Header dependencies of the objects tests/http links besides its tests.
-include $(BUILD)/tests/http/harness.d $(BUILD)/clients/c/gradd_client.d


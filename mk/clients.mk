# mk/clients.mk -- the clients (clients/curl, clients/python, clients/js;
# clients/c is tested by test-http, whose binaries link it).
#
#   make test-clients   start gradd on free ports and run the curl examples,
#                       the Python client's tests (with numpy and with numpy
#                       hidden) and the JS client's tests against it
#

TEST_EXTRA += test-clients
DEPS_EXTRA += curl python3 python3-numpy nodejs

.PHONY: test-clients
test-clients: $(GRADD)
	@tests/clients/run.sh $(GRADD)

# Header dependencies of the objects tests/http links besides its tests.
-include $(BUILD)/tests/http/harness.d $(BUILD)/clients/c/gradd_client.d


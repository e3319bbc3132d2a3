# mk/deploy.mk -- the deployment files (Dockerfile, deploy/) and their tests.
#
#   make test-deploy  (part of `make test`, under a minute)
#                     tests/deploy/check-config.py: the limits, timeouts,
#                     grace periods, probes and variables of the Dockerfile,
#                     nginx.conf, the compose file and deploy/k8s agree with
#                     `gradd serve --help`;
#                     tests/deploy/lb-test: Debian's nginx with
#                     deploy/nginx.conf in front of three gradd processes;
#                     one killed, one stopped and restarted under load; no
#                     client request may fail
#   make test-image   (.ci/run, after `make test`; as root, about 2 minutes)
#                     the Dockerfile played in a debootstrapped Debian 12
#                     root with chroot, then gradd started from it
TEST_EXTRA += test-deploy
DEPS_EXTRA += nginx python3 python3-yaml

.PHONY: test-deploy test-lb test-image
test-deploy: deps $(GRADD)
	@/usr/bin/python3 tests/deploy/check-config.py $(GRADD)
	@tests/deploy/lb-test $(GRADD)

test-lb: deps $(GRADD)
	@tests/deploy/lb-test $(GRADD)

test-image:
	@tools/deps debootstrap python3
	@tests/deploy/image-test

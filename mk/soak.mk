# mk/soak.mk -- a long run of mixed and hostile load against build/gradd
# (not part of `make test`).
#
#   make soak    tools/soak: SOAK_SECONDS (600) of mixed load from
#                SOAK_CLIENTS (6) threads, legal requests and hostile ones
#                (JSON bombs, deep nesting, bad headers, abandoned uploads,
#                bursts past --max-inflight-bytes); RSS, fds and answers by
#                status every SOAK_INTERVAL (30) s, then a summary. Fails
#                when the daemon dies or answers 500, or RSS or fds keep
#                growing, or memory does not come back once idle.
.PHONY: soak
soak: $(GRADD)
	@/usr/bin/python3 tools/soak $(GRADD)

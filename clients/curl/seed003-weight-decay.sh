#!/bin/sh
# Seed 003, "6.5 Back-Propagation and Other Differentiation Algorithms"
# 6.5.1, the weight decay u = lambda sum_i w_i^2 (lambda = 0.5, w = [1.2, 3.764, -1.8])
#
#   u = lambda * sum_i w_i^2
#
# By hand:
#   u = 0.5 (1.44 + 14.167696 + 3.24) = 9.423848
#   grad_w u = 2 lambda w = w = [1.2, 3.764, -1.8]
#
# EXPECT: {"values": {"f": 9.423848}, "gradients": {"w": [1.2, 3.764, -1.8]}}
#
# Usage: GRADD_URL=http://host:port seed003-weight-decay.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "lam * sum(w^2)", "inputs": {"lam": 0.5}, "params": {"w": [1.2, 3.764, -1.8]}, "wrt": ["w"]}' \
  "$GRADD_URL/v1/gradient"
echo

#!/bin/sh
# Seed 001, "Backpropagation and automatic differentiation"
# Writing Jacobian Products for primitive operation: log() (at x = 4)
#
#   z = log x;  LogarithmVjp(x, z, v) = v / x
#
# By hand:
#   z = ln 4 = 2 ln 2 = 1.3862943611198906; x_bar = v / x = 1/4
#
# EXPECT: {"values": {"f": 1.3862943611198906}, "gradients": {"x": 0.25}}
#
# Usage: GRADD_URL=http://host:port seed001-log-vjp.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "log(x)", "inputs": {"x": 4}}' \
  "$GRADD_URL/v1/gradient"
echo

#!/bin/sh
# Seed 001, "Backpropagation and automatic differentiation"
# Writing Jacobian Products for primitive operation: addition (at x = 2, y = 5)
#
#   z = x + y;  AdditionVjp(x, y, z, v) = v
#
# By hand:
#   z = 7; with v = dz/dz = 1 coming from the output: x_bar = y_bar = v = 1
#
# EXPECT: {"values": {"f": 7}, "gradients": {"x": 1, "y": 1}}
#
# Usage: GRADD_URL=http://host:port seed001-add-vjp.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "x + y", "inputs": {"x": 2, "y": 5}}' \
  "$GRADD_URL/v1/gradient"
echo

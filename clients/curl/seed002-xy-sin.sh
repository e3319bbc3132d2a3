#!/bin/sh
# Seed 002, "Simple NN Automatic differentiation AutoGrad with Computational graphs"
# Implementation (reverse mode, the Var class)
#
#   z = x * y + sin(x) at x = 0.5, y = 4.2
#
# By hand:
#   z = 2.1 + sin(0.5) = 2.1 + 0.479425538604203 = 2.579425538604203
#   x_bar = y + cos(x) = 4.2 + 0.8775825618903728 = 5.077582561890373
#   y_bar = x = 0.5  (the seed asserts these to within 1e-15)
#
# EXPECT: {"values": {"f": 2.579425538604203}, "gradients": {"x": 5.077582561890373, "y": 0.5}}
# TOLERANCE: 1e-15
#
# Usage: GRADD_URL=http://host:port seed002-xy-sin.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "x*y + sin(x)", "inputs": {"x": 0.5, "y": 4.2}}' \
  "$GRADD_URL/v1/gradient"
echo

#!/bin/sh
# Seed 002, "Simple NN Automatic differentiation AutoGrad with Computational graphs"
# Forward mode (the same z, derivatives carried forward from x)
#
#   z = x * y + sin(x) at x = 0.5, y = 4.2, with x_dot = 1, y_dot = 0
#
# By hand:
#   z_dot = y x_dot + x y_dot + cos(x) x_dot = 4.2 + 0.8775825618903728 = 5.077582561890373
#
# EXPECT: {"values": {"f": 2.579425538604203}, "tangents": {"f": 5.077582561890373}}
# TOLERANCE: 1e-15
#
# Usage: GRADD_URL=http://host:port seed002-xy-sin-forward-mode.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "x*y + sin(x)", "inputs": {"x": 0.5, "y": 4.2}, "tangents": {"x": 1}}' \
  "$GRADD_URL/v1/jvp"
echo

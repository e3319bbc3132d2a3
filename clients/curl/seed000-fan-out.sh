#!/bin/sh
# Seed 000, "Backpropagation I: Autodifferentiation and Computational Graphs"
# In-Class Exercise 3: A Last Word about Multiple Gradients (at x = 2)
#
#   w = f(x) = x^2 + 3x
#
# By hand:
#   dw/dx = 2x (through y = x^2) + 3 (through z = 3x) = 2x + 3
#   at x = 2: w = 4 + 6 = 10, dw/dx = 7
#
# EXPECT: {"values": {"f": 10}, "gradients": {"x": 7}}
#
# Usage: GRADD_URL=http://host:port seed000-fan-out.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "x^2 + 3*x", "inputs": {"x": 2}}' \
  "$GRADD_URL/v1/gradient"
echo

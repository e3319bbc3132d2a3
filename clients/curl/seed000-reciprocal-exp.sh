#!/bin/sh
# Seed 000, "Backpropagation I: Autodifferentiation and Computational Graphs"
# Computing df/dy with reverse differentiation, and In-Class Exercise 1
#
#   f(x, y) = 1 / (y + e^(-x)) at f(0, 1)
#
# By hand:
#   a = -x = 0, b = e^a = 1, c = y + b = 2, d = 1/c = 0.5
#   df/dy = dd/dc * dc/dy = -1/c^2 * 1 = -1/4
#   df/dx = dd/dc * dc/db * db/da * da/dx = (-1/4) * 1 * e^0 * (-1) = 1/4
#
# EXPECT: {"values": {"f": 0.5}, "gradients": {"x": 0.25, "y": -0.25}}
#
# Usage: GRADD_URL=http://host:port seed000-reciprocal-exp.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "1/(y+exp(-x))", "inputs": {"x": 0, "y": 1}}' \
  "$GRADD_URL/v1/gradient"
echo

#!/bin/sh
# Seed 000, "Backpropagation I: Autodifferentiation and Computational Graphs"
# Computational Graphs to Autodifferentiation; Reverse Derivative
#
#   e = (a+b)(b+1) at a = 2, b = 1
#
# By hand:
#   c = a+b = 3, d = b+1 = 2, e = c*d = 6
#   de/da = d * dc/da = 2, de/db = c * dd/db + d * dc/db = 3 + 2 = 5
#
# EXPECT: {"values": {"f": 6}, "gradients": {"a": 2, "b": 5}}
#
# Usage: GRADD_URL=http://host:port seed000-sum-product.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "(a+b)*(b+1)", "inputs": {"a": 2, "b": 1}}' \
  "$GRADD_URL/v1/gradient"
echo

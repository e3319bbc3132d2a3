#!/bin/sh
# Seed 000, "Backpropagation I: Autodifferentiation and Computational Graphs"
# Computational Graphs to Autodifferentiation (a = 3, b = 6)
#
#   e = (a+b)(b+1) at a = 3, b = 6
#
# By hand:
#   c = a+b = 9, d = b+1 = 7, e = c*d = 63 (the seed prints 126, which is
#   2 * 63: (3+6)(6+1) is 63)
#   de/da = d = 7, de/db = c + d = 16
#
# EXPECT: {"values": {"f": 63}, "gradients": {"a": 7, "b": 16}}
#
# Usage: GRADD_URL=http://host:port seed000-sum-product-3-6.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "(a+b)*(b+1)", "inputs": {"a": 3, "b": 6}}' \
  "$GRADD_URL/v1/gradient"
echo

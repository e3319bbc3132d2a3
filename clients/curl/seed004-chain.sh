#!/bin/sh
# Seed 004, "Automatic Differentiation for Deep Learning, by example"
# Understanding the Chain Rule
#
#   h = f(x, y) = x * y, o = g(h) = h^2 at x = 3, y = 2
#
# By hand:
#   h = 6, o = 36; do/dh = 2h = 12
#   do/dx = do/dh * dh/dx = 12 * y = 24; do/dy = 12 * x = 36
#
# EXPECT: {"values": {"o": 36}, "gradients": {"h": 12, "x": 24, "y": 36}}
#
# Usage: GRADD_URL=http://host:port seed004-chain.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": {"inputs": {"x": [], "y": []}, "nodes": [{"name": "h", "expr": "x*y"}, {"name": "o", "expr": "h^2"}], "loss": "o"}, "inputs": {"x": 3, "y": 2}, "wrt": ["h", "x", "y"]}' \
  "$GRADD_URL/v1/gradient"
echo

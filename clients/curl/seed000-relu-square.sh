#!/bin/sh
# Seed 000, "Backpropagation I: Autodifferentiation and Computational Graphs"
# In-Class Exercise 2
#
#   f(x, y, z) = [max(wx, 0) - y]^2 + z at f(1, 0, -2), w = 3
#
# By hand:
#   p = xw = 3, q = max(p, 0) = 3, r = q - y = 3, s = r^2 = 9, t = s + z = 7
#   dt = 1; ds = dz = 1; dr = 2r ds = 6; dq = dr = 6, dy = -dr = -6
#   dp = (p > 0) dq = 6; dx = w dp = 18, dw = x dp = 6
#
# EXPECT: {"values": {"f": 7}, "gradients": {"x": 18, "y": -6, "z": 1, "w": 6}}
#
# Usage: GRADD_URL=http://host:port seed000-relu-square.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "(maximum(w*x, 0) - y)^2 + z", "inputs": {"x": 1, "y": 0, "z": -2, "w": 3}}' \
  "$GRADD_URL/v1/gradient"
echo

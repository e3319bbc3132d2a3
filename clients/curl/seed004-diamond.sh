#!/bin/sh
# Seed 004, "Automatic Differentiation for Deep Learning, by example"
# The diamond-shaped graph, o = Multiply(h, h)
#
#   h1 = x * y, h2 = y * z, h = h1 * h2, o = h * h at x = 3, y = 2, z = 1
#
# By hand:
#   h1 = 6, h2 = 2, h = 12, o = 144
#   h_bar = 2h = 24, h1_bar = h_bar h2 = 48, h2_bar = h_bar h1 = 144
#   x_bar = h1_bar y = 96, y_bar = h1_bar x + h2_bar z = 144 + 144 = 288, z_bar = h2_bar y = 288
#
# EXPECT: {"values": {"o": 144}, "gradients": {"h": 24, "h1": 48, "h2": 144, "x": 96, "y": 288, "z": 288}}
#
# Usage: GRADD_URL=http://host:port seed004-diamond.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": {"inputs": {"x": [], "y": [], "z": []}, "nodes": [{"name": "h1", "op": "mul", "inputs": ["x", "y"]}, {"name": "h2", "op": "mul", "inputs": ["y", "z"]}, {"name": "h", "op": "mul", "inputs": ["h1", "h2"]}, {"name": "o", "op": "mul", "inputs": ["h", "h"]}], "loss": "o"}, "inputs": {"x": 3, "y": 2, "z": 1}, "wrt": ["h", "h1", "h2", "x", "y", "z"]}' \
  "$GRADD_URL/v1/gradient"
echo

#!/bin/sh
# Seed 004, "Automatic Differentiation for Deep Learning, by example"
# The tf.GradientTape example (derivatives of y and z along x, forward mode)
#
#   y = x * x, z = y * y at x = 3
#
# By hand:
#   y = 9, z = 81; dy/dx = 2x = 6, dz/dx = 4x^3 = 108
#
# EXPECT: {"values": {"y": 9, "z": 81}, "tangents": {"y": 6, "z": 108}}
#
# Usage: GRADD_URL=http://host:port seed004-gradient-tape.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": {"inputs": {"x": []}, "nodes": [{"name": "y", "expr": "x*x"}, {"name": "z", "expr": "y*y"}], "loss": "z"}, "inputs": {"x": 3}, "tangents": {"x": 1}, "outputs": ["y", "z"]}' \
  "$GRADD_URL/v1/jvp"
echo

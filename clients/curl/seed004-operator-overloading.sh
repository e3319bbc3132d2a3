#!/bin/sh
# Seed 004, "Automatic Differentiation for Deep Learning, by example"
# But why don't TensorFlow or PyTorch look so complicated? (operator overloading)
#
#   o = ((x*y) * (y*z))**2 at x = 3, y = 2, z = 1
#
# By hand:
#   the diamond again, written as one expression: o = 144, x_bar = 96, y_bar = 288, z_bar = 288
#
# EXPECT: {"values": {"f": 144}, "gradients": {"x": 96, "y": 288, "z": 288}}
#
# Usage: GRADD_URL=http://host:port seed004-operator-overloading.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "((x*y) * (y*z))^2", "inputs": {"x": 3, "y": 2, "z": 1}}' \
  "$GRADD_URL/v1/gradient"
echo

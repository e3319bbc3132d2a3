#!/bin/sh
# Seed 004, "Automatic Differentiation for Deep Learning, by example"
# Dynamic computation graphs: the gradient tape with Multiply
#
#   a = 2, b = 3, o = a * b, f = 5 * o
#
# By hand:
#   o = 6, f = 30; o.gradient = 5, a.gradient = 5 * b = 15, b.gradient = 5 * a = 10
#
# EXPECT: {"values": {"f": 30}, "gradients": {"o": 5, "a": 15, "b": 10}}
#
# Usage: GRADD_URL=http://host:port seed004-multiply-tape.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": {"inputs": {"a": [], "b": []}, "nodes": [{"name": "o", "expr": "a*b"}, {"name": "f", "expr": "5*o"}], "loss": "f"}, "inputs": {"a": 2, "b": 3}, "wrt": ["o", "a", "b"]}' \
  "$GRADD_URL/v1/gradient"
echo

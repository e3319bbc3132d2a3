#!/bin/sh
# Seed 001, "Backpropagation and automatic differentiation"
# Writing Jacobian Products for primitive operation: exp() (at x = 1)
#
#   z = e^x;  ExponentiationVjp(x, z, v) = v * z
#
# By hand:
#   z = e = 2.718281828459045; x_bar = v * z = 1 * e = 2.718281828459045
#
# EXPECT: {"values": {"f": 2.718281828459045}, "gradients": {"x": 2.718281828459045}}
#
# Usage: GRADD_URL=http://host:port seed001-exp-vjp.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "exp(x)", "inputs": {"x": 1}}' \
  "$GRADD_URL/v1/gradient"
echo

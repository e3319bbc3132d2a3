#!/bin/sh
# Seed 002, "Simple NN Automatic differentiation AutoGrad with Computational graphs"
# How the chain rule is applied: activation functions (at x = 0)
#
#   Softplus(x) = log(1 + e^x) = log(B(A(x))), B(x) = 1 + x, A(x) = e^x
#
# By hand:
#   Softplus(0) = log 2 = 0.6931471805599453
#   d/dx = (1 / B) * dB/dA * dA/dx = 1/(1 + e^0) * 1 * e^0 = 1/2
#
# EXPECT: {"values": {"f": 0.6931471805599453}, "gradients": {"x": 0.5}}
#
# Usage: GRADD_URL=http://host:port seed002-softplus.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "log(1 + exp(x))", "inputs": {"x": 0}}' \
  "$GRADD_URL/v1/gradient"
echo

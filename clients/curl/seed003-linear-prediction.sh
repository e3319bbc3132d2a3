#!/bin/sh
# Seed 003, "6.5 Back-Propagation and Other Differentiation Algorithms"
# 6.5.1 Computational Graphs, (b) y_hat = x^T w + b, at the input of 6.5.5, x = [1.2, 3.764, -1.8]
#
#   y_hat = x^T w + b with w = [0.5, -1, 2], b = 0.1
#
# By hand:
#   y_hat = 0.6 - 3.764 - 3.6 + 0.1 = -6.664
#   grad_w y_hat = x = [1.2, 3.764, -1.8], grad_b = 1, grad_x = w = [0.5, -1, 2]
#
# EXPECT: {"values": {"f": -6.664}, "gradients": {"x": [0.5, -1, 2], "w": [1.2, 3.764, -1.8], "b": 1}}
#
# Usage: GRADD_URL=http://host:port seed003-linear-prediction.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": "sum(x*w) + b", "inputs": {"x": [1.2, 3.764, -1.8]}, "params": {"w": [0.5, -1, 2], "b": 0.1}, "wrt": ["x", "w", "b"]}' \
  "$GRADD_URL/v1/gradient"
echo

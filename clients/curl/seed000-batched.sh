#!/bin/sh
# Seed 000, "Backpropagation I: Autodifferentiation and Computational Graphs"
# Moving from Vectors to Batches (the minibatched df; the seed gives no numbers, these are ours)
#
#   P = X W, Q = max(P, 0), R = Q - y, S = R^2, T = S + z, L = sum(T)
#   X = [[1, 2, 0], [0, 1, -2]], W = [[1, 0], [0, 1], [1, 1]], y = [0.5, 1], z = [1, -1]
#
# By hand:
#   P = [[1, 2], [-2, -1]], Q = [[1, 2], [0, 0]], R = [[0.5, 1], [-0.5, -1]]
#   S = [[0.25, 1], [0.25, 1]], L = 2.5 + (1 - 1) * 2 = 2.5
#   dT = 1; dz = dT summed over rows = [2, 2]; dR = 2R = [[1, 2], [-1, -2]]
#   dy = -dR summed over rows = [0, 0]; dP = (P > 0) dR = [[1, 2], [0, 0]]
#   dX = dP W^T = [[1, 2, 3], [0, 0, 0]]; dW = X^T dP = [[1, 2], [2, 4], [0, 0]]
#
# EXPECT: {"values": {"L": 2.5}, "gradients": {"X": [[1, 2, 3], [0, 0, 0]], "W": [[1, 2], [2, 4], [0, 0]], "y": [0, 0], "z": [2, 2]}}
#
# Usage: GRADD_URL=http://host:port seed000-batched.sh  (default http://localhost:8080;
# GRADD_API_KEY, when set, is sent as a bearer token)
set -eu
GRADD_URL="${GRADD_URL:-http://localhost:8080}"
set --
if [ -n "${GRADD_API_KEY:-}" ]; then set -- -H "Authorization: Bearer $GRADD_API_KEY"; fi
curl -sS --fail-with-body --connect-timeout 5 --max-time 30 -H 'Content-Type: application/json' "$@" \
  -d '{"graph": {"inputs": {"X": [2, 3], "y": [2], "z": [2]}, "params": {"W": [3, 2]}, "nodes": [{"name": "P", "expr": "X @ W"}, {"name": "Q", "expr": "maximum(P, 0)"}, {"name": "R", "expr": "Q - y"}, {"name": "S", "expr": "R^2"}, {"name": "T", "expr": "S + z"}, {"name": "L", "op": "sum", "inputs": ["T"]}], "loss": "L"}, "inputs": {"X": [[1, 2, 0], [0, 1, -2]], "y": [0.5, 1], "z": [1, -1]}, "params": {"W": [[1, 0], [0, 1], [1, 1]]}, "wrt": ["X", "W", "y", "z"]}' \
  "$GRADD_URL/v1/gradient"
echo

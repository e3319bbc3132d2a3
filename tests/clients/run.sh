#!/bin/sh
# tests/clients/run.sh GRADD_BIN -- the clients' tests against live daemons.
#
# Starts two daemons on free ports (one open, one with --api-keys), runs
#   - every clients/curl script, its answer against the one it states,
#   - the Python client's unittest suite with Debian's /usr/bin/python3,
#     once with numpy and once with numpy hidden (its import fails),
#   - the C client's tests (tests/clients/test_c_client.c, built with the
#     project's warnings: retries against a fake server, the graph store's
#     re-upload against both daemons),
#   - the JS client's node --test suites, and its TypeScript declarations
#     compiled against tests/clients/types/check.ts with tsc --strict
#     (typescript from npm, installed once under build/clients-npm),
#   - every command block of clients/README.md (check_readme.py),
#   - tools/bench-digits once (the digits MLP trained through gradd.Model
#     must end with PyTorch's weights),
#   - clients/examples/train.py on both example models,
# then stops the daemons. Run from the repository root. The daemons are
# stopped on every way out (SIGTERM, then SIGKILL after 20 s); every step
# has a time limit. Exit status 0 only when every suite passed.
set -u
bin=${1:-build/gradd}
limit=${CLIENT_TEST_TIMEOUT:-300}   # seconds for each suite
py=/usr/bin/python3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gradd-clients.XXXXXX") || exit 1
pids=""

stop_daemons() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    for p in $pids; do
        i=0
        while kill -0 "$p" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    pids=""
}
trap 'stop_daemons; rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# start NAME FLAGS...: a daemon on a free port; its URL in $url.
start() {
    name=$1
    shift
    "$bin" serve --port 0 --bind 127.0.0.1 "$@" >"$tmp/$name.out" 2>"$tmp/$name.log" </dev/null &
    pids="$pids $!"
    i=0
    port=""
    while [ -z "$port" ] && [ $i -lt 300 ]; do
        port=$(sed -n 's/.*listening on [^:]*:\([0-9][0-9]*\).*/\1/p' "$tmp/$name.out")
        [ -n "$port" ] || sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$port" ]; then
        echo "clients: gradd ($name) printed no port in 30 s:" >&2
        tail -20 "$tmp/$name.log" >&2
        exit 1
    fi
    url="http://127.0.0.1:$port"
}

for tool in curl node timeout cc "$py"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "clients: $tool is missing (make deps installs it)" >&2; exit 1; }
done
"$py" -c 'import numpy' 2>/dev/null || { echo "clients: $py has no numpy (apt-get install python3-numpy)" >&2; exit 1; }
[ -x "$bin" ] || { echo "clients: $bin is not an executable" >&2; exit 1; }

start open
open_url=$url
key=clients-test-key
start keyed --api-keys "$key,another-key"
keyed_url=$url
export GRADD_BIN="$bin" PYTHONDONTWRITEBYTECODE=1

failed=""
suite() { # NAME COMMAND...: run one suite with a time limit
    name=$1
    shift
    echo "== clients: $name"
    if timeout -k 10 "$limit" "$@"; then :; else
        echo "== clients: $name FAILED (exit $?)"
        failed="$failed $name"
    fi
}

suite curl env GRADD_URL="$open_url" "$py" tests/clients/check_curl_examples.py clients/curl
suite curl-with-key env GRADD_URL="$keyed_url" GRADD_API_KEY="$key" "$py" tests/clients/check_curl_examples.py clients/curl
suite python-numpy env GRADD_URL="$open_url" GRADD_AUTH_URL="$keyed_url" GRADD_API_KEY="$key" \
    GRADD_TEST_EXPECT_NUMPY=1 "$py" -m unittest discover -s clients/python/tests
suite python-no-numpy env GRADD_URL="$open_url" GRADD_AUTH_URL="$keyed_url" GRADD_API_KEY="$key" \
    GRADD_TEST_EXPECT_NUMPY=0 PYTHONPATH="$PWD/tests/clients/no_numpy" "$py" -m unittest discover -s clients/python/tests
suite c sh -c 'cc -std=c11 -O1 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 \
    -Wvla -Wundef -Werror -Iclients/c tests/clients/test_c_client.c clients/c/gradd_client.c -lcurl -lpthread \
    -o "$0/test_c_client" && "$0/test_c_client" "$1" "$2" "$3"' "$tmp" "$open_url" "$keyed_url" "$key"
suite js env GRADD_URL="$open_url" GRADD_AUTH_URL="$keyed_url" GRADD_API_KEY="$key" \
    node --test clients/js/test/gradd.test.mjs clients/js/test/transport.test.mjs clients/js/test/graphs.test.mjs
suite js-types sh -c 'tsc=${TSC:-build/clients-npm/node_modules/.bin/tsc}
    if [ ! -x "$tsc" ]; then
        command -v npm >/dev/null 2>&1 || { echo "clients: npm is missing (apt-get install npm)"; exit 1; }
        npm install --prefix build/clients-npm --no-audit --no-fund --silent typescript@5 || exit 1
    fi
    "$tsc" -p tests/clients/types/tsconfig.json && echo "tsc --strict: clients/js/gradd.d.ts checked"'
suite readme "$py" tests/clients/check_readme.py "$open_url"
# the digits loop of make bench once, float64: gradd.Model.fit must end with
# PyTorch's weights (the speed figure is printed, not judged, here)
suite digits "$py" tools/bench-digits "$bin" --rounds 1 --dtype float64
# the example models, trained the way clients/examples/README.md says
suite example-cnn env PYTHONPATH="$PWD/clients/python" "$py" clients/examples/train.py cnn-step "$open_url" \
    --steps 2 --requests 2
suite example-gpt env PYTHONPATH="$PWD/clients/python" "$py" clients/examples/train.py gpt-step "$open_url" \
    --steps 2 --requests 2

# both daemons must still be up: a crash during the suites is a failure
for p in $pids; do kill -0 "$p" 2>/dev/null || failed="$failed daemon-died"; done
stop_daemons
if [ -n "$failed" ]; then
    echo "clients: FAILED:$failed"
    exit 1
fi
echo "clients: all suites passed (curl, curl with an API key, python with and without numpy, c, js, js types, clients/README.md, digits against PyTorch, the example models)"

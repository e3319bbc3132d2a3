#!/bin/sh
# tests/browser/run.sh GRADD_BIN -- the playground's browser test.
# Makes sure Debian's chromium and npm are there (installs them as root,
# otherwise prints the apt-get line and fails), runs `npm ci` when
# node_modules is missing or older than the lock file, then runs the test
# with node's test runner. Screenshots go to build/browser/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
gradd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")

need() { # need COMMAND PACKAGES...
    cmd=$1; shift
    command -v "$cmd" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ]; then
        echo "test-browser: installing $*"
        export DEBIAN_FRONTEND=noninteractive
        timeout 900 apt-get update -q >/dev/null
        timeout 900 apt-get install -y -q --no-install-recommends "$@" >/dev/null
    else
        echo "test-browser: missing $cmd; run: sudo apt-get install -y $*" >&2
        exit 1
    fi
}
need /usr/bin/chromium chromium fonts-dejavu-core
need node nodejs
need npm npm

cd "$here"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
   [ package.json -nt node_modules/.package-lock.json ]; then
    echo "test-browser: npm ci"
    timeout 600 npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p "$root/build/browser"
GRADD_BIN="$gradd" SHOTS="$root/build/browser" CHROMIUM=/usr/bin/chromium \
    timeout 600 node --test --test-reporter=spec playground.test.mjs

#!/bin/sh
# deploy/image.sh -- the commands that build gradd's container image.
#
# The Dockerfile runs this script in its RUN lines, and tests/deploy/image-test
# runs the very same RUN lines inside a debootstrapped Debian 12 root with
# chroot, so the image recipe is tested on machines that have no Docker engine.
#
#   image.sh build-deps          (build stage, as root) the compiler and -dev packages
#   image.sh build SRC OUT       (build stage) compile SRC's build/gradd and lay out
#                                under OUT the files the runtime image gets:
#                                  OUT/usr/local/bin/gradd
#                                  OUT/usr/local/share/gradd/openapi.yaml
#                                  OUT/usr/local/share/gradd/web/   (clients/web, as it is)
#   image.sh runtime-deps        (runtime stage, as root) the shared libraries gradd
#                                links against, and the unprivileged user "gradd"
#
# POSIX sh; stops at the first failing command.
set -eu

# Debian 12 packages. The runtime list is what `ldd build/gradd` names,
# nothing more: libc and libgcc come with the base image.
BUILD_PKGS="build-essential pkg-config libopenblas-dev libjansson-dev libyaml-dev libmicrohttpd-dev protobuf-c-compiler libprotobuf-c-dev libonnx-dev"
RUNTIME_PKGS="libopenblas0-pthread libjansson4 libyaml-0-2 libmicrohttpd12 libprotobuf-c1"

# The runtime user: a fixed uid/gid, so that volume permissions and a
# Kubernetes securityContext (runAsUser) can name it.
GRADD_UID=10001

# apt_install PKG...: install without recommends, then drop apt's lists so
# they do not end up in an image layer.
apt_install() {
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "$@"
    apt-get clean
    rm -rf /var/lib/apt/lists/*
}

build_deps() {
    apt_install $BUILD_PKGS
}

build() {
    src=$1 out=$2
    # Only the daemon: the tests and fuzzers need packages the image has no
    # use for. PKG_CFLAGS is given here because the Makefile's own line also
    # asks pkg-config about cmocka, which the build stage does not install.
    make -C "$src" -j"$(nproc)" build/gradd \
        PKG_CFLAGS="$(pkg-config --cflags openblas jansson yaml-0.1 libmicrohttpd)"
    install -D -m 755 "$src/build/gradd" "$out/usr/local/bin/gradd"
    strip "$out/usr/local/bin/gradd"
    install -D -m 644 "$src/api/openapi.yaml" "$out/usr/local/share/gradd/openapi.yaml"
    # The web playground is copied whatever it holds (even nothing yet).
    mkdir -p "$out/usr/local/share/gradd/web"
    if [ -d "$src/clients/web" ]; then
        cp -R "$src/clients/web/." "$out/usr/local/share/gradd/web/"
    fi
    chmod -R a+rX,go-w "$out/usr/local/share/gradd"
    # The binary must start here, with the build stage's libraries.
    "$out/usr/local/bin/gradd" version
}

runtime_deps() {
    apt_install $RUNTIME_PKGS
    # A system user with no login shell and no home directory to write to.
    groupadd --system --gid "$GRADD_UID" gradd
    useradd --system --uid "$GRADD_UID" --gid gradd --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin gradd
}

usage() {
    echo "usage: image.sh build-deps | build SRC OUT | runtime-deps" >&2
    exit 2
}

[ $# -ge 1 ] || usage
cmd=$1
shift
case $cmd in
build-deps) [ $# -eq 0 ] || usage; build_deps ;;
build) [ $# -eq 2 ] || usage; build "$1" "$2" ;;
runtime-deps) [ $# -eq 0 ] || usage; runtime_deps ;;
*) usage ;;
esac

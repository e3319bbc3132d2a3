# gradd -- top-level build. Plain make; objects under $(BUILD)/; headers
# tracked through generated .d files.
#
#   make            build libgrad (build/libgrad.a) and the tests
#   make test       install missing Debian packages (as root) and run every
#                   test, then the same suite under ASan+UBSan
#   make run        the daemon (gradd serve) on :8080; ARGS="--port 9000 ..."
#   make bench      libgrad benchmarks, side by side with PyTorch
#   make install PREFIX=/usr/local

BUILD   ?= build
PREFIX  ?= /usr/local
CC      ?= cc
SAN     ?=

PKG_CFLAGS := $(shell pkg-config --cflags openblas cmocka jansson yaml-0.1 libmicrohttpd 2>/dev/null)
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wformat=2 \
           -Wvla -Wundef -Werror
# -O3: GCC 12 vectorizes the elementwise kernels only at -O3.
OPT     ?= -O3 -g -fno-math-errno
CFLAGS  += -std=c11 -D_POSIX_C_SOURCE=200809L $(OPT) $(WARN) -MMD -MP $(PKG_CFLAGS)
LDLIBS  += -lopenblas -lm -lpthread

ifneq ($(SAN),)
CFLAGS  += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC   := $(wildcard lib/*.c lib/ops/*.c)
LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIBGRAD   := $(BUILD)/libgrad.a

# api/codec/ (JSON, numbers, base64, UTF-8) is the API's codec: it sees
# only itself (its objects are built with -Iapi/codec alone, and
# check-codec greps its includes), so it knows nothing of lib/ or api/.
CODEC_SRC := $(wildcard api/codec/*.c)
# api/onnx/ is the ONNX front-end; its protobuf-c code is generated at
# build time from Debian's onnx.proto (libonnx-dev) into $(ONNX_GEN).
ONNX_SRC  := $(wildcard api/onnx/*.c)
ONNX_PROTO := /usr/include/onnx/onnx.proto
ONNX_GEN  := $(BUILD)/gen/onnx
API_SRC   := $(wildcard api/*.c) $(CODEC_SRC) $(ONNX_SRC)
API_OBJ   := $(API_SRC:%.c=$(BUILD)/%.o) $(ONNX_GEN)/onnx.pb-c.o
LIBAPI    := $(BUILD)/libgradapi.a
API_LIBS  := -ljansson -lprotobuf-c
SRV_LIBS  := -lmicrohttpd -lyaml

SRV_SRC   := $(wildcard server/*.c)
SRV_OBJ   := $(SRV_SRC:%.c=$(BUILD)/%.o)
GRADD     := $(BUILD)/gradd

UNIT_SRC  := $(wildcard tests/unit/test_*.c)
UNIT_BIN  := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/unit/%)
UNIT_HELP := $(filter-out $(UNIT_SRC),$(wildcard tests/unit/*.c))
UNIT_HOBJ := $(UNIT_HELP:%.c=$(BUILD)/%.o)

BENCH_BIN := $(BUILD)/tests/bench/bench_lib
# A request's tensor on its way in (parse + decode), in list, b64 and binary form.
BENCH_DECODE := $(BUILD)/tests/bench/bench_decode
# The number codec and base64 against the C library.
BENCH_NUM := $(BUILD)/tests/bench/bench_num

# Integration tests: each starts build/gradd serve on a free port and drives
# it with libcurl.
HTTP_SRC  := $(wildcard tests/http/test_*.c)
HTTP_BIN  := $(HTTP_SRC:tests/http/%.c=$(BUILD)/tests/http/%)
HTTP_HOBJ := $(BUILD)/tests/http/harness.o $(BUILD)/clients/c/gradd_client.o
HTTP_SHIM := $(BUILD)/tests/http/slow_epoll_del.so

# Parts of the tree beyond the core (clients, the playground, deployment)
# add their own targets in mk/<part>.mk and append to:
#   TEST_EXTRA  targets `make test` runs after the core suites
#   DEPS_EXTRA  Debian packages tools/deps installs for them
TEST_EXTRA :=
DEPS_EXTRA :=
.DEFAULT_GOAL := all
include $(wildcard mk/*.mk)

.SECONDARY:
.PHONY: FORCE all lib run test test-unit check-symbols check-codec test-http test-san deps deps-core bench bench-http install clean fuzz fuzz-smoke
all: lib $(LIBAPI) $(GRADD) $(UNIT_BIN) $(BENCH_BIN) $(BENCH_DECODE) $(BENCH_NUM) $(HTTP_BIN) $(HTTP_SHIM)
lib: $(LIBGRAD)

# Objects depend on the flags they were built with: changing OPT or SAN
# rebuilds everything.
FLAGS_STAMP := $(BUILD)/.flags
$(FLAGS_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS) $(LDFLAGS)' > $@
FORCE:

# Dependencies point one way (server -> api -> lib): lib sees only itself.
$(BUILD)/lib/%.o: lib/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -c $< -o $@

$(BUILD)/api/codec/%.o: api/codec/%.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Iapi/codec -c $< -o $@

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ilib -Iapi -c $< -o $@

# The ONNX protobuf-c code, generated (never committed) and built without
# the project's warnings; api/onnx/ includes its header.
$(ONNX_GEN)/onnx.pb-c.c $(ONNX_GEN)/onnx.pb-c.h &: $(ONNX_PROTO)
	@mkdir -p $(ONNX_GEN)
	protoc-c --proto_path=$(dir $(ONNX_PROTO)) --c_out=$(ONNX_GEN) $(ONNX_PROTO)

$(ONNX_GEN)/onnx.pb-c.o: $(ONNX_GEN)/onnx.pb-c.c $(FLAGS_STAMP)
	$(CC) -std=c11 $(OPT) $(filter -fsanitize% -fno-%,$(CFLAGS)) -I$(ONNX_GEN) -c $< -o $@

$(BUILD)/api/onnx/%.o: CFLAGS += -I$(ONNX_GEN)
$(ONNX_SRC:%.c=$(BUILD)/%.o): | $(ONNX_GEN)/onnx.pb-c.h

# vmath.c's rows vectorize only without trapping math (see the file).
$(BUILD)/lib/vmath.o: CFLAGS += -fno-trapping-math -ffp-contract=fast
# conv_direct.c's rows are multiply-add chains: one FMA each.
$(BUILD)/lib/ops/conv_direct.o: CFLAGS += -ffp-contract=fast
$(LIBGRAD): $(LIB_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBAPI): $(API_OBJ)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# server -> api -> lib: the one binary, with its subcommands.
$(GRADD): $(SRV_OBJ) $(LIBAPI) $(LIBGRAD)
	$(CC) $(LDFLAGS) $^ -o $@ $(SRV_LIBS) $(API_LIBS) $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(UNIT_HOBJ) $(LIBAPI) $(LIBGRAD)
	$(CC) $(LDFLAGS) $(filter %.o,$^) $(filter %.a,$^) -o $@ -lcmocka $(API_LIBS) $(UNIT_EXTRA_LIBS) $(LDLIBS)

# The tests of the OpenAPI description read it through the daemon's
# YAML converter (server/openapi.c); only they and gradd link libyaml.
OPENAPI_TESTS := $(BUILD)/tests/unit/test_openapi $(BUILD)/tests/unit/test_error_table
$(OPENAPI_TESTS): $(BUILD)/server/openapi.o
$(OPENAPI_TESTS): UNIT_EXTRA_LIBS := -lyaml
$(OPENAPI_TESTS:=.o): CFLAGS += -Iserver

$(BUILD)/tests/http/%: $(BUILD)/tests/http/%.o $(HTTP_HOBJ) $(LIBAPI) $(LIBGRAD)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka -lcurl -lpthread $(API_LIBS) $(LDLIBS)

# Preloaded into one test's daemons (test_overload.c): never sanitized, it
# must load before anything else in an ASan process too.
$(HTTP_SHIM): tests/http/slow_epoll_del.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC $< -o $@ -ldl

$(BENCH_BIN): $(BUILD)/tests/bench/bench_lib.o $(BUILD)/tests/bench/bench_gpt.o $(LIBGRAD)
	$(CC) $(LDFLAGS) $^ -o $@ $(LDLIBS)

$(BENCH_DECODE): $(BUILD)/tests/bench/bench_decode.o $(LIBAPI) $(LIBGRAD)
	$(CC) $(LDFLAGS) $^ -o $@ $(API_LIBS) $(LDLIBS)

$(BENCH_NUM): $(BUILD)/tests/bench/bench_num.o $(LIBAPI) $(LIBGRAD)
	$(CC) $(LDFLAGS) $^ -o $@ $(API_LIBS) $(LDLIBS)

# ---- tests -----------------------------------------------------------
# deps first, so a fresh Debian 12 machine needs nothing but `make test`.
test: deps
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory check-symbols
	$(MAKE) --no-print-directory test-http
	$(MAKE) --no-print-directory test-san
	$(MAKE) --no-print-directory fuzz-smoke
	@for t in $(TEST_EXTRA); do $(MAKE) --no-print-directory $$t || exit 1; done

# The daemon under test is the binary of this build (GRADD_BIN).
test-http: $(GRADD) $(HTTP_BIN) $(HTTP_SHIM)
	@GRADD_BIN=$(GRADD) tools/run-tests $(HTTP_BIN)

test-unit: $(UNIT_BIN) check-codec
	@tools/run-tests $(UNIT_BIN)

# The codec includes only system headers (jansson's among them) and its
# own, by bare name: nothing from lib/ or api/. Each file must also
# compile with -Iapi/codec alone.
check-codec:
	@bad=$$(grep -nE '^[[:space:]]*#[[:space:]]*include' $(wildcard api/codec/*.c api/codec/*.h) | \
	        grep -vE '#[[:space:]]*include[[:space:]]*(<[A-Za-z0-9_/]+\.h>|"[a-z0-9_]+\.h")'; \
	      for f in $(wildcard api/codec/*.c api/codec/*.h); do \
	        grep -hoE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"[a-z0-9_]+\.h"' $$f | grep -oE '[a-z0-9_]+\.h' | \
	        while read h; do [ -f api/codec/$$h ] || echo "$$f: $$h is not in api/codec"; done; done); \
	if [ -n "$$bad" ]; then echo "check-codec: api/codec includes from outside itself:"; echo "$$bad"; exit 1; fi; \
	for f in $(wildcard api/codec/*.c); do \
	    $(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -fsyntax-only $(PKG_CFLAGS) -Iapi/codec $$f || exit 1; done; \
	echo "check-codec: api/codec includes nothing from lib/ or api/ and builds with -Iapi/codec alone"

# Every global symbol of a lib/ object is gr_, of an api/codec/ object cd_,
# of an api/ object gd_, of a server/ object srv_ (or main) (the allowed
# prefixes are listed at the top of tools/check-symbols).
check-symbols: $(LIBGRAD) $(LIBAPI) $(SRV_OBJ)
	@tools/check-symbols $(BUILD)

# The same suite under AddressSanitizer + UBSan, no recovery.
test-san:
	$(MAKE) --no-print-directory BUILD=build/san SAN=1 OPT="-O1 -g" test-unit test-http

deps:
	@tools/deps $(DEPS_EXTRA)

# What building and running the daemon needs (no browser, no nginx).
deps-core:
	@tools/deps

# The main job: the daemon on port 8080 (GRADD_* variables configure it).
run: deps-core $(GRADD)
	$(GRADD) serve $(ARGS)

# BENCH_THREADS=2: the libgrad table also at 2 threads, over 1 thread, beside PyTorch's.
BENCH_THREADS ?= 1
bench: deps-core $(BENCH_BIN) $(BENCH_DECODE) $(BENCH_NUM) $(GRADD)
	@tools/bench-lib $(BENCH_BIN) --threads $(BENCH_THREADS)
	@tools/bench-api $(GRADD)
	@echo "== request tensor decode: $(BENCH_DECODE)" && $(BENCH_DECODE)
	@echo "== number codec: $(BENCH_NUM) --quick" && $(BENCH_NUM) --quick
	@/usr/bin/python3 tools/bench-onnx $(GRADD)

# HTTP throughput with wrk, side by side with the FastAPI + PyTorch peer
# and nginx serving a static file (tools/bench-http).
bench-http: deps-core $(GRADD)
	@tools/bench-http $(GRADD)

# ---- fuzzing (clang, libFuzzer + ASan + UBSan) -------------------------
# `make fuzz` runs each harness for FUZZ_SECONDS (default 60); CI runs
# fuzz-smoke (a few seconds each) from `make test`.
FUZZ_SECONDS ?= 60
FUZZ_SRC  := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN  := $(FUZZ_SRC:tests/fuzz/%.c=build/fuzz/%)
FUZZ_FLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -g -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all $(PKG_CFLAGS) -Ilib -Iapi

build/fuzz/%: tests/fuzz/%.c $(LIB_SRC) $(API_SRC) $(wildcard lib/*.h lib/ops/*.h api/*.h api/codec/*.h api/onnx/*.h) build/gen/onnx/onnx.pb-c.c
	@mkdir -p $(@D)
	clang $(FUZZ_FLAGS) -Ibuild/gen/onnx $< $(LIB_SRC) $(API_SRC) build/gen/onnx/onnx.pb-c.c -o $@ $(API_LIBS) $(LDLIBS)

fuzz: deps $(FUZZ_BIN)
	@tools/fuzz $(FUZZ_SECONDS) $(FUZZ_BIN)

fuzz-smoke: $(FUZZ_BIN)
	@tools/fuzz 10 $(FUZZ_BIN)

# ---- install ---------------------------------------------------------
install: $(LIBGRAD)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 $(LIBGRAD) $(DESTDIR)$(PREFIX)/lib/libgrad.a
	install -m 644 lib/grad.h $(DESTDIR)$(PREFIX)/include/grad.h
	sed -e 's|@PREFIX@|$(PREFIX)|' lib/grad.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/grad.pc

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(API_OBJ:.o=.d) $(SRV_OBJ:.o=.d) $(HTTP_BIN:=.d) $(UNIT_BIN:=.d) $(UNIT_HOBJ:.o=.d) $(BUILD)/tests/bench/bench_lib.d $(BUILD)/tests/bench/bench_gpt.d $(BUILD)/tests/bench/bench_decode.d $(BUILD)/tests/bench/bench_num.d

/* main.c -- the gradd binary: one program, subcommands.
 *   gradd serve [--flags]     the HTTP daemon (serve.c; a request's life: http.c)
 *   gradd health [URL]        exit 0 when /readyz answers 200 (health.c)
 *   gradd run ROUTE [FILE]    the response POST /v1/ROUTE would give
 *   gradd bench ROUTE FILE    median milliseconds of each phase, as JSON
 */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cache.h"
#include "health.h"
#include "serve.h"

static void usage(FILE *f) {
    fputs("usage: gradd <command> [args]\n"
          "  serve [--flags]      run the HTTP daemon (gradd serve --help lists the flags)\n"
          "  health [URL]         exit 0 when URL answers 200 (default http://127.0.0.1:$GRADD_PORT/readyz,\n"
          "                       port 8080 when GRADD_PORT is unset)\n"
          "  run ROUTE [FILE]     read a request from FILE (or stdin), print what POST /v1/ROUTE returns;\n"
          "                       exits 1 when the response is an error\n"
          "  bench ROUTE FILE [--binary N]\n"
          "                       run the request repeatedly; print one JSON line with the median\n"
          "                       milliseconds of decode, compile, execute and encode (the program\n"
          "                       compiled once and kept, as the daemon's cache keeps it; --binary N:\n"
          "                       FILE is N bytes of JSON, then binary tensors, as with\n"
          "                       Inference-Header-Content-Length: N)\n"
          "  version              print the version\n"
          "routes:",
          f);
    for (int i = 0; i < gd_route_count(); i++) fprintf(f, " %s", gd_route_name(i));
    fputc('\n', f);
}

/* Read all of f, at most max bytes (one more is read to detect excess). */
static char *slurp(FILE *f, size_t max, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = cap > max ? NULL : realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            *len = n;
            return buf;
        }
    }
    free(buf);
    return NULL;
}

static char *read_request(const char *path, size_t max, size_t *len) {
    FILE *f = path ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "gradd: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *body = slurp(f, max, len);
    if (path) fclose(f);
    if (!body) fprintf(stderr, "gradd: cannot read %s\n", path ? path : "stdin");
    return body;
}

/* A streamed answer's progress line (a step with "stream": true), printed
 * as it comes. */
static void print_line(void *ctx, const char *line, size_t len) {
    (void)ctx;
    fwrite(line, 1, len, stdout);
    fflush(stdout);
}

static int cmd_run(int argc, char **argv) {
    if (argc < 1 || argc > 2) return usage(stderr), 2;
    gd_limits lim = gd_limits_default();
    size_t len = 0;
    char *body = NULL;
    if (gd_route_has_body(argv[0])) {
        body = read_request(argc > 1 ? argv[1] : NULL, lim.max_body_bytes, &len);
        if (!body) return 2;
    }
    gd_response res;
    gd_call call = {.route = argv[0], .body = body, .len = len, .lim = &lim, .on_line = print_line};
    gd_handle_call(&call, &res);
    fwrite(res.body, 1, res.len, stdout);
    if (!res.ndjson) putchar('\n'); /* NDJSON lines end in their own */
    int rc = res.status == 200 ? 0 : 1;
    gd_response_free(&res);
    free(body);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* gradd bench ROUTE FILE [--binary N]: with --binary, FILE is Triton's
 * binary layout, N bytes of JSON and the tensors' bytes after them (what
 * POST /v1/ROUTE takes with Inference-Header-Content-Length: N). */
static int cmd_bench(int argc, char **argv) {
    long long header = -1;
    if (argc == 4 && !strcmp(argv[2], "--binary")) {
        char *end;
        header = strtoll(argv[3], &end, 10);
        if (*end || header < 0) return usage(stderr), 2;
    } else if (argc != 2) {
        return usage(stderr), 2;
    }
    gd_limits lim = gd_limits_default();
    size_t len;
    char *body = read_request(argv[1], lim.max_body_bytes, &len);
    if (!body) return 2;
    if (header > (long long)len) {
        fprintf(stderr, "gradd bench: --binary %lld is past the end of %s (%zu bytes)\n", header, argv[1], len);
        free(body);
        return 2;
    }
    /* Compiled programs are kept as the daemon keeps them (--cache-entries):
     * the runs after the warm-up reuse the program and its arena, as a
     * client's repeated requests do, instead of faulting in a fresh arena
     * each run (resnet18's step: 52-59 ms that way, 45 ms warm). */
    gd_cache *cache = gd_cache_new(4, (int64_t)8 << 30);
    gd_call call = {.route = argv[0], .body = body, .len = len, .lim = &lim, .cache = cache};
    if (header >= 0) {
        call.len = (size_t)header;
        call.binary = body + header;
        call.binary_len = len - (size_t)header;
    }
    enum { MAX_ITERS = 1000 };
    static double ph[5][MAX_ITERS];
    int n = 0, status = 0;
    double total = 0;
    /* one warm-up, then at least 5 runs and about 2 seconds */
    for (int i = -1; i < MAX_ITERS && (n < 5 || total < 2000); i++) {
        gd_response res;
        gd_handle_call(&call, &res);
        status = res.status;
        gd_timing t = res.timing;
        gd_response_free(&res);
        if (i < 0) continue;
        double sum = t.decode_ms + t.compile_ms + t.execute_ms + t.encode_ms;
        ph[0][n] = t.decode_ms;
        ph[1][n] = t.compile_ms;
        ph[2][n] = t.execute_ms;
        ph[3][n] = t.encode_ms;
        ph[4][n] = sum;
        total += sum;
        n++;
    }
    printf("{\"route\":\"%s\",\"status\":%d,\"iterations\":%d,\"body_bytes\":%zu,\"decode_ms\":%.3f,"
           "\"compile_ms\":%.3f,\"execute_ms\":%.3f,\"encode_ms\":%.3f,\"total_ms\":%.3f}\n",
           argv[0], status, n, len, median(ph[0], n), median(ph[1], n), median(ph[2], n), median(ph[3], n),
           median(ph[4], n));
    gd_cache_free(cache);
    free(body);
    return status == 200 ? 0 : 1;
}

/* The environment gradd wants before its libraries start, set by
 * executing itself once more (glibc and OpenBLAS read these only when the
 * program starts); a variable already set is left as it is, so an
 * operator can choose otherwise, and a failed exec carries on without.
 *
 * - glibc.malloc.hugetlb=1 in GLIBC_TUNABLES: transparent huge pages for
 *   malloc's big blocks (madvise(MADV_HUGEPAGE) on what it maps). A page
 *   fault costs about 15 us on the VMs measured here, and every big buffer
 *   a request takes fresh (its body, a 45 MB tensor, the arena, the answer)
 *   faults once per 4 KiB page: a /v1/step on one 11M-float param took
 *   155 ms to decode, 643 ms to run and 149 ms to encode with 4 KiB pages;
 *   19, 59 and 11 ms with huge pages (gradd bench, same machine, alternated).
 *   GLIBC_TUNABLES naming glibc.malloc.hugetlb (=0 to opt out) stays.
 * - OPENBLAS_THREAD_TIMEOUT=4: OpenBLAS's idle threads sleep at once
 *   instead of spinning for 2^28 cycles (about 0.1 s) after each product,
 *   on the cores the kernel threads and the other workers need (gpt-step
 *   with 2 threads: 9.3 to 17 ms spinning, 9.4 to 9.7 ms without). */
static void exec_with_environment(char **argv) {
    const char *t = getenv("GLIBC_TUNABLES");
    int tunables = !(t && strstr(t, "glibc.malloc.hugetlb")), blas = !getenv("OPENBLAS_THREAD_TIMEOUT");
    if (!tunables && !blas) return;
    if (blas && setenv("OPENBLAS_THREAD_TIMEOUT", "4", 1) != 0) return;
    if (tunables) {
        char *v = malloc((t ? strlen(t) + 1 : 0) + sizeof "glibc.malloc.hugetlb=1");
        if (!v) return;
        sprintf(v, "%s%sglibc.malloc.hugetlb=1", t ? t : "", t ? ":" : "");
        int rc = setenv("GLIBC_TUNABLES", v, 1);
        free(v);
        if (rc != 0) return;
    }
    execv("/proc/self/exe", argv);
}

int main(int argc, char **argv) {
    exec_with_environment(argv);
    /* Keep freed memory while busy: big tensors are allocated and freed
     * per request, and returning them to the kernel each time costs page
     * faults (1 MiB thresholds made a /v1/step 3x slower). But not above
     * 32 MiB: a block that size is mmapped, so a graph's node table that
     * doubles past it moves by mremap; from the heap it was one memmove of
     * up to 150 MB that no cancel flag can stop (a 100k-node HVP answered
     * its 1 s deadline 500 ms late, 1 run in 5; 0 in 21 since). One arena: the
     * daemon's watchdog gives freed memory back with malloc_trim once idle,
     * and malloc_trim cannot shrink the top of a per-thread arena (16 MB
     * stayed after one 16 MiB upload; with one arena the daemon went back
     * to its idle 8 MB). Throughput with one arena was the same within this
     * machine's noise (scalar, /v1/step JSON and b64, 4 rounds). */
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 512 << 20);
    mallopt(M_ARENA_MAX, 1);
    gd_init();
    if (argc < 2) return usage(stderr), 2;
    if (!strcmp(argv[1], "serve")) return srv_serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "health")) return srv_health(argc - 2, argv + 2);
    if (!strcmp(argv[1], "run")) return cmd_run(argc - 2, argv + 2);
    if (!strcmp(argv[1], "bench")) return cmd_bench(argc - 2, argv + 2);
    if (!strcmp(argv[1], "version")) return puts("gradd 0.1.0"), 0;
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) return usage(stdout), 0;
    fprintf(stderr, "gradd: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

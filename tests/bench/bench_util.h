/* bench_util.h -- what the codec and decode benchmarks share: a seeded
 * splitmix64 source, standard normals, the monotonic clock, a sort order
 * for medians, and allocation that dies (a benchmark has no recovery).
 * Define BENCH_NAME before including it: it prefixes the messages. */
#ifndef GRADD_BENCH_UTIL_H
#define GRADD_BENCH_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t bench_rng = 0x243F6A8885A308D3ull;

static inline uint64_t rnd64(void) {
    uint64_t z = (bench_rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Standard normal (Box-Muller). */
static inline double gauss(void) {
    double u = ((double)(rnd64() >> 11) + 0.5) / 9007199254740992.0;
    double v = (double)(rnd64() >> 11) / 9007199254740992.0;
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

/* Seconds of CLOCK_MONOTONIC. */
static inline double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static inline void die(const char *msg) {
    fprintf(stderr, "%s: %s\n", BENCH_NAME, msg);
    exit(1);
}

static inline void *xmalloc(size_t n) {
    void *p = malloc(n);
    if (!p) die("out of memory");
    return p;
}

#endif

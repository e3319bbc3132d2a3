/* bench_num.c -- single-thread micro-benchmark of the number codec
 * (api/codec/num.c, api/codec/num_parse.c) on tensor-like data, against the C library:
 *
 *   parse-tensor6     1M gaussians * 0.05 written with 6 decimals
 *                     ("-0.048123"), comma separated, parsed in order
 *   parse-f32repr     1M floats as Python writes them after tolist()
 *                     (shortest float64 text of the float: ~17 digits)
 *   parse-shortest64  1M random-bit doubles in shortest text
 *   strtod-tensor6    the parse-tensor6 text through strtod (reference)
 *   print-f64-gauss   1M gaussian * 0.05 doubles, shortest text
 *   print-f64-bits    1M random-bit finite doubles
 *   print-f32-gauss   1M gaussian * 0.05 floats
 *   print-f32-bits    1M random-bit finite floats
 *   print-f32-list-*  the same two through cd_num_print_f32_list (one list)
 *   snprintf-f32      print-f32-gauss by the shortest of "%.6g".."%.9g"
 *                     that strtof reads back (the slow way)
 *   b64-encode/decode 64 MiB of random bytes (api/codec/b64.c) on the path the
 *                     CPU gets (AVX2 when it has it), then the same with
 *                     the scalar path forced (-scalar); then all of that
 *                     again on the first 1 MiB (-1M: a request's tensor,
 *                     which stays in cache; 64 MiB measures memory)
 *
 * Each is run REPS times after one warm-up; output per workload:
 *   <name> <median> ms
 *   # <name> <ns> ns/number, <MB/s> MB/s of text (of base64 text for b64),
 *     then the same for the fastest run (a steadier figure on a busy host)
 * and for b64 one more line: # <name> <GB/s> GB/s of base64 text (median).
 * Usage: bench_num [--quick]  (--quick: 100k numbers, 8 MiB)
 * Build (not a make target):
 *   cc -O3 -std=c11 -D_POSIX_C_SOURCE=200809L -Iapi tests/bench/bench_num.c \
 *      build/libgradapi.a -ljansson -lyaml -lm -lpthread -o build/bench_num */
#include "codec/b64.h"
#include "codec/num.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REPS 11
#define BENCH_NAME "bench_num"
#include "bench_util.h"

static size_t count = 1000000, b64_bytes = 64u << 20;


typedef double (*work_fn)(void); /* one run; returns a checksum to keep */

/* Run fn REPS times after a warm-up; print the median ms, ns per item
 * and MB/s of bytes. Returns the median in seconds. */
static double run(const char *name, work_fn fn, size_t items, size_t bytes) {
    double t[REPS], sink = fn();
    for (int r = 0; r < REPS; r++) {
        double t0 = now();
        sink += fn();
        t[r] = now() - t0;
    }
    qsort(t, REPS, sizeof *t, cmp_double);
    double med = t[REPS / 2];
    printf("%s %.3f ms\n", name, med * 1e3);
    printf("# %s %.1f ns/number, %.0f MB/s (fastest run: %.1f ns, %.0f MB/s; checksum %g)\n", name,
           med * 1e9 / (double)items, (double)bytes / med / 1e6, t[0] * 1e9 / (double)items, (double)bytes / t[0] / 1e6,
           sink);
    return med;
}

/* ---- parsing ---------------------------------------------------------- */

static char *text;      /* numbers separated by ',' */
static size_t text_len;
static double *parsed;

/* Build the text from count numbers written by write(i, buf). */
static void make_text(int (*write)(size_t, char *)) {
    free(text);
    text = xmalloc(count * 40 + 1);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        n += (size_t)write(i, text + n);
        text[n++] = ',';
    }
    text_len = n;
    text[n] = 0;
}

static double *values;
static float *fvalues;

static int write_tensor6(size_t i, char *buf) {
    return snprintf(buf, 40, "%.6f", values[i]);
}

static int write_f32repr(size_t i, char *buf) {
    return cd_num_print_f64((double)fvalues[i], buf);
}

static int write_shortest(size_t i, char *buf) {
    return cd_num_print_f64(values[i], buf);
}

static double parse_all(void) {
    const char *p = text, *end = text + text_len;
    size_t i = 0;
    while (p < end) {
        if (cd_num_parse(p, end, &parsed[i], &p) != CD_NUM_OK || *p != ',') die("parse failed");
        p++;
        i++;
    }
    return parsed[i / 2];
}

static double strtod_all(void) {
    char *p = text, *end = text + text_len;
    size_t i = 0;
    while (p < end) {
        parsed[i++] = strtod(p, &p);
        p++;
    }
    return parsed[i / 2];
}

/* ---- printing --------------------------------------------------------- */

static char *out;

static double print_f64(void) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        n += (size_t)cd_num_print_f64(values[i], out + n);
        out[n++] = ',';
    }
    return (double)n;
}

static double print_f32(void) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        n += (size_t)cd_num_print_f32(fvalues[i], out + n);
        out[n++] = ',';
    }
    return (double)n;
}

static double print_f32_list(void) {
    return (double)cd_num_print_f32_list(fvalues, count, out);
}

static double snprintf_f32(void) {
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        int len = 0;
        for (int p = 6; p <= 9; p++) {
            len = snprintf(out + n, 40, "%.*g", p, (double)fvalues[i]);
            if (strtof(out + n, NULL) == fvalues[i]) break;
        }
        n += (size_t)len;
        out[n++] = ',';
    }
    return (double)n;
}

static size_t printed_len(work_fn fn) {
    return (size_t)fn();
}

/* ---- base64 ------------------------------------------------------------ */

static unsigned char *bin, *bin2;
static char *b64;

static double b64_encode(void) {
    return (double)cd_b64_encode(bin, b64_bytes, b64);
}

static double b64_decode(void) {
    size_t n;
    if (cd_b64_decode(b64, cd_b64_encoded_len(b64_bytes), bin2, b64_bytes, &n) != 0) die("b64 decode failed");
    return (double)n;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--quick") == 0) {
        count = 100000;
        b64_bytes = 8u << 20;
    } else if (argc > 1) {
        fprintf(stderr, "usage: bench_num [--quick]\n");
        return 2;
    }
    values = xmalloc(count * sizeof *values);
    fvalues = xmalloc(count * sizeof *fvalues);
    parsed = xmalloc(count * sizeof *parsed);
    out = xmalloc(count * 40);

    for (size_t i = 0; i < count; i++) values[i] = gauss() * 0.05;
    make_text(write_tensor6);
    run("parse-tensor6", parse_all, count, text_len);
    double *mine = xmalloc(count * sizeof *mine);
    memcpy(mine, parsed, count * sizeof *mine);
    run("strtod-tensor6", strtod_all, count, text_len);
    if (memcmp(mine, parsed, count * sizeof *mine) != 0) die("cd_num_parse and strtod differ");
    free(mine);
    for (size_t i = 0; i < count; i++) fvalues[i] = (float)values[i];
    make_text(write_f32repr);
    run("parse-f32repr", parse_all, count, text_len);
    for (size_t i = 0; i < count; i++) {
        uint64_t b;
        do b = rnd64();
        while (((b >> 52) & 0x7FF) == 0x7FF);
        memcpy(&values[i], &b, sizeof b);
    }
    make_text(write_shortest);
    run("parse-shortest64", parse_all, count, text_len);

    for (size_t i = 0; i < count; i++) values[i] = gauss() * 0.05;
    run("print-f64-gauss", print_f64, count, printed_len(print_f64));
    for (size_t i = 0; i < count; i++) {
        uint64_t b;
        do b = rnd64();
        while (((b >> 52) & 0x7FF) == 0x7FF);
        memcpy(&values[i], &b, sizeof b);
    }
    run("print-f64-bits", print_f64, count, printed_len(print_f64));
    for (size_t i = 0; i < count; i++) fvalues[i] = (float)(gauss() * 0.05);
    run("print-f32-gauss", print_f32, count, printed_len(print_f32));
    run("print-f32-list-gauss", print_f32_list, count, printed_len(print_f32_list));
    size_t saved = count;
    count = count / 10; /* the slow way: a tenth of the numbers */
    run("snprintf-f32", snprintf_f32, count, printed_len(snprintf_f32));
    count = saved;
    for (size_t i = 0; i < count; i++) {
        uint32_t b;
        do b = (uint32_t)(rnd64() >> 32);
        while (((b >> 23) & 0xFF) == 0xFF);
        memcpy(&fvalues[i], &b, sizeof b);
    }
    run("print-f32-bits", print_f32, count, printed_len(print_f32));
    run("print-f32-list-bits", print_f32_list, count, printed_len(print_f32_list));

    bin = xmalloc(b64_bytes);
    bin2 = xmalloc(b64_bytes);
    b64 = xmalloc(cd_b64_encoded_len(b64_bytes));
    for (size_t i = 0; i < b64_bytes; i++) bin[i] = (unsigned char)rnd64();
    printf("# b64: %s path by default\n", cd_b64_uses_avx2() ? "AVX2" : "scalar");
    /* the whole buffer (bigger than most caches: memory-bound), then 1 MiB
     * (a request's tensor, from cache) */
    size_t sizes[2] = {b64_bytes, (size_t)1 << 20};
    for (int k = 0; k < 2; k++) {
        size_t saved_bytes = b64_bytes;
        b64_bytes = sizes[k];
        size_t b64_len = cd_b64_encoded_len(b64_bytes);
        for (int scalar = 0; scalar < 2; scalar++) {
            char enc_name[48], dec_name[48];
            snprintf(enc_name, sizeof enc_name, "b64-encode%s%s", k ? "-1M" : "", scalar ? "-scalar" : "");
            snprintf(dec_name, sizeof dec_name, "b64-decode%s%s", k ? "-1M" : "", scalar ? "-scalar" : "");
            cd_b64_force_scalar(scalar);
            memset(bin2, 0, b64_bytes);
            double te = run(enc_name, b64_encode, b64_bytes, b64_len);
            printf("# %s %.2f GB/s of base64 text\n", enc_name, (double)b64_len / te / 1e9);
            double td = run(dec_name, b64_decode, b64_bytes, b64_len);
            printf("# %s %.2f GB/s of base64 text\n", dec_name, (double)b64_len / td / 1e9);
            if (memcmp(bin, bin2, b64_bytes) != 0) die("b64 round trip differs");
        }
        b64_bytes = saved_bytes;
    }
    cd_b64_force_scalar(0);
    return 0;
}

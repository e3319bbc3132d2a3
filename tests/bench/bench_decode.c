/* bench_decode.c -- single-thread benchmark of a request's tensor on its
 * way in: the body parsed as the API parses it (gd_doc_parse: "b64"
 * strings kept as spans, objects holding "parameters" recorded) and the
 * value decoded into a float64 tensor (gd_tensor_decode), then both freed.
 * One tensor of 2^23 elements (64 MiB of float64: gaussians * 0.05), in
 * three forms:
 *
 *   list     {"x": [v, v, ...]}, each number in shortest round-trip text
 *            (as Python's json.dumps writes a float64 tensor's tolist())
 *   b64      {"x": {"shape": [N], "b64": "<little-endian bytes>"}}
 *   binary   {"x": {"shape": [N], "parameters": {"binary_data_size": 8N}}}
 *            followed by the 8N bytes (Triton's binary extension)
 *
 * Each is run REPS times after one warm-up; output per form:
 *   decode-<form> <median> ms
 *   # decode-<form> fastest <ms> ms, <MB/s> MB/s of body (median)
 * Usage: bench_decode [--quick]  (--quick: 2^20 elements)
 * make bench runs it; it links only libgradapi and libgrad. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/b64.h"
#include "codec/num.h"
#include "doc.h"
#include "tensor.h"

#define REPS 7
#define BENCH_NAME "bench_decode"
#include "bench_util.h"


/* One request body: JSON text (json_len bytes), then binary bytes. */
typedef struct body {
    char *text;
    size_t json_len, binary_len;
} body;

static int64_t count;
static double *values;

static body make_list(void) {
    body b = {xmalloc((size_t)count * (CD_NUM_MAX + 1) + 64), 0, 0};
    char *o = b.text;
    o += sprintf(o, "{\"x\":[");
    for (int64_t i = 0; i < count; i++) {
        if (i) *o++ = ',';
        o += cd_num_print_f64(values[i], o);
    }
    o += sprintf(o, "]}");
    b.json_len = (size_t)(o - b.text);
    return b;
}

static body make_b64(void) {
    size_t bytes = (size_t)count * sizeof(double);
    body b = {xmalloc(cd_b64_encoded_len(bytes) + 128), 0, 0};
    char *o = b.text;
    o += sprintf(o, "{\"x\":{\"shape\":[%lld],\"b64\":\"", (long long)count);
    o += cd_b64_encode(values, bytes, o);
    o += sprintf(o, "\"}}");
    b.json_len = (size_t)(o - b.text);
    return b;
}

static body make_binary(void) {
    size_t bytes = (size_t)count * sizeof(double);
    body b = {xmalloc(bytes + 128), 0, bytes};
    b.json_len = (size_t)sprintf(b.text, "{\"x\":{\"shape\":[%lld],\"parameters\":{\"binary_data_size\":%zu}}}",
                                 (long long)count, bytes);
    memcpy(b.text + b.json_len, values, bytes);
    return b;
}

/* Parse b and decode its "x" as float64; returns a checksum of the tensor
 * (so the work is kept) after checking it holds values exactly. */
static double decode_once(const body *b) {
    gd_limits lim = gd_limits_default();
    lim.max_elements = INT64_MAX / 16;
    lim.max_total_bytes = INT64_MAX / 4;
    lim.max_tree_bytes = INT64_MAX / 4;
    gd_doc_opts o = {.max_depth = lim.max_depth, .max_bytes = 0};
    gd_doc doc;
    gd_err e = {0};
    if (gd_doc_parse(b->text, b->json_len, &o, &doc, &e) < 0) die("the body does not parse");
    if (b->binary_len) { /* what the API's binary layout does for the one record */
        if (doc.json.nrecords != 1) die("no binary record");
        doc.binary = b->text + b->json_len;
        doc.binoff = calloc(1, sizeof *doc.binoff);
        if (!doc.binoff) die("out of memory");
    }
    int64_t budget = lim.max_total_bytes;
    gd_tensor t;
    if (gd_tensor_decode(&doc, json_object_get(doc.json.root, "x"), GR_F64, &lim, &budget, "/x", &t, &e) < 0)
        die("the tensor does not decode");
    if (t.n != count || memcmp(t.data, values, (size_t)count * sizeof(double))) die("the tensor is wrong");
    double sum = ((const double *)t.data)[0] + ((const double *)t.data)[count - 1];
    gd_tensor_free(&t);
    gd_doc_free(&doc);
    return sum;
}

static void run(const char *name, const body *b) {
    double t[REPS], sink = decode_once(b);
    for (int r = 0; r < REPS; r++) {
        double t0 = (now() * 1e3);
        sink += decode_once(b);
        t[r] = (now() * 1e3) - t0;
    }
    qsort(t, REPS, sizeof *t, cmp_double);
    double med = t[REPS / 2];
    printf("decode-%s %.1f ms\n", name, med);
    printf("# decode-%s fastest %.1f ms, %.0f MB/s of body (median; %zu bytes; checksum %g)\n", name, t[0],
           (double)(b->json_len + b->binary_len) / med / 1e3, b->json_len + b->binary_len, sink);
    fflush(stdout);
}

int main(int argc, char **argv) {
    int quick = argc > 1 && !strcmp(argv[1], "--quick");
    count = (int64_t)1 << (quick ? 20 : 23);
    values = xmalloc((size_t)count * sizeof *values);
    for (int64_t i = 0; i < count; i++) values[i] = gauss() * 0.05;
    body (*make[])(void) = {make_list, make_b64, make_binary};
    const char *names[] = {"list", "b64", "binary"};
    for (int f = 0; f < 3; f++) {
        body b = make[f]();
        run(names[f], &b);
        free(b.text);
    }
    free(values);
    return 0;
}

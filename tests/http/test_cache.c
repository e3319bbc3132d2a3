/* test_cache.c -- the daemon's compiled-graph cache over HTTP: a request
 * that differs from an earlier one only in its constants gets its own
 * answer, whichever way the constants are sent and on every route that
 * caches; a program whose run failed is not kept; a program larger than
 * --cache-bytes is not kept. (tests/unit/test_cache_key.c checks every
 * one-field change of every route through the API.) */
#include "harness.h"

/* {"graph": {..."constants": {"c": <c>}...}, "inputs": {"x": 64 ones}} for
 * sum(x*c): the answer is the sum of c. */
static char *constant_request(const char *c, const char *extra) {
    buf b = {0};
    buf_printf(&b, "{\"graph\":{\"inputs\":{\"x\":[64]},\"constants\":{\"c\":%s},"
                   "\"nodes\":[{\"name\":\"f\",\"expr\":\"sum(x*c)\"}],\"loss\":\"f\"},\"inputs\":{\"x\":[", c);
    for (int i = 0; i < 64; i++) buf_printf(&b, i ? ",1" : "1");
    buf_printf(&b, "]}%s}", extra);
    return b.p;
}

static char *list_of(int n, int v) {
    buf b = {0};
    buf_printf(&b, "[");
    for (int i = 0; i < n; i++) buf_printf(&b, i ? ",%d" : "%d", v);
    buf_printf(&b, "]");
    return b.p;
}

/* 64 float64 twos or ones as base64: each is 8 bytes, 00..00 F0 3F (1) or
 * 00..00 00 40 (2); 512 bytes make 684 characters with padding. */
static char *b64_of(int v) {
    unsigned char raw[512];
    memset(raw, 0, sizeof raw);
    for (int i = 0; i < 64; i++) {
        raw[i * 8 + 6] = v == 1 ? 0xF0 : 0x00;
        raw[i * 8 + 7] = v == 1 ? 0x3F : 0x40;
    }
    static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf b = {0};
    buf_printf(&b, "{\"shape\":[64],\"b64\":\"");
    for (int i = 0; i < 512; i += 3) {
        unsigned x = (unsigned)raw[i] << 16 | (i + 1 < 512 ? (unsigned)raw[i + 1] << 8 : 0) | (i + 2 < 512 ? raw[i + 2] : 0);
        char q[5] = {al[x >> 18 & 63], al[x >> 12 & 63], i + 1 < 512 ? al[x >> 6 & 63] : '=', i + 2 < 512 ? al[x & 63] : '=', 0};
        buf_printf(&b, "%s", q);
    }
    buf_printf(&b, "\"}");
    return b.p;
}

static const cfg CFG_CACHE = {"cache", {"--workers", "1", NULL}};

/* The reported defect: the second request got the first one's constants. */
static void test_constants_are_part_of_the_program(void **state) {
    fixture *f = *state;
    buf problems = {0};
    static const struct {
        const char *route, *extra, *value_path;
    } routes[] = {
        {"/v1/forward", "", "values/f"},
        {"/v1/gradient", "", "values/f"},
    };
    int checked = 0;
    for (int enc = 0; enc < 2; enc++)
        for (size_t k = 0; k < sizeof routes / sizeof *routes; k++) {
            for (int v = 1; v <= 2; v++) {
                char *c = enc == 0 ? list_of(64, v) : b64_of(v);
                char *body = constant_request(c, routes[k].extra);
                resp r;
                http(&r, f->d.port, "POST", routes[k].route, body, NULL, 10000);
                json_t *j = r.status == 200 ? jparse(&r) : NULL;
                double got = j ? jnum(j, routes[k].value_path) : NAN;
                if (got != 64.0 * v)
                    note(&problems, "%s with %s constants of %d: %s is %g, want %g (status %ld)", routes[k].route,
                         enc ? "b64" : "list", v, routes[k].value_path, got, 64.0 * v, r.status);
                checked++;
                json_decref(j);
                resp_free(&r);
                free(body);
                free(c);
            }
        }
    /* step: w is a param; the loss sum(w*c) with lr 0 is 64 v */
    for (int v = 1; v <= 2; v++) {
        char *c = list_of(64, v);
        buf b = {0};
        buf_printf(&b, "{\"graph\":{\"params\":{\"w\":[64]},\"constants\":{\"c\":%s},"
                       "\"nodes\":[{\"name\":\"f\",\"expr\":\"sum(w*c)\"}],\"loss\":\"f\"},\"params\":{\"w\":%s},"
                       "\"optimizer\":{\"lr\":0}}",
                   c, "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,"
                      "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]");
        resp r;
        http(&r, f->d.port, "POST", "/v1/step", b.p, NULL, 10000);
        json_t *j = r.status == 200 ? jparse(&r) : NULL;
        double got = j ? jnum(j, "losses/0") : NAN;
        if (got != 64.0 * v) note(&problems, "/v1/step with constants of %d: loss %g, want %g", v, got, 64.0 * v);
        checked++;
        json_decref(j);
        resp_free(&r);
        buf_free(&b);
        free(c);
    }
    printf("# %d requests differing only in constants (lists of 64, b64; forward, gradient, step): each its own "
           "answer\n", checked);
    fail_if_problems(&problems);
}

/* gradd_graph_cache_hits_total now. */
static double cache_hits(int port) {
    buf m = {0};
    get_metrics(port, &m);
    double hits = metric0(&m, "gradd_graph_cache_hits_total");
    buf_free(&m);
    return hits;
}

/* A run that fails (a label out of range: 422 at run time) leaves nothing
 * in the cache: the same graph with good labels is a miss, not a hit. */
static void test_failed_runs_are_not_kept(void **state) {
    fixture *f = *state;
    const char *bad = "{\"graph\":\"cross_entropy(z, y)\",\"inputs\":{\"z\":[[1,2,3]],\"y\":[7]}}";
    const char *good = "{\"graph\":\"cross_entropy(z, y)\",\"inputs\":{\"z\":[[1,2,3]],\"y\":[2]}}";
    double hits[3];
    const char *seq[3] = {bad, good, good}; /* the good one again at the end: now it is a hit */
    hits[0] = cache_hits(f->d.port);
    for (int i = 0; i < 3; i++) {
        resp r;
        http(&r, f->d.port, "POST", "/v1/gradient", seq[i], NULL, 10000);
        if (i == 0) expect_error(&r, 422, "invalid_value");
        else expect_status(&r, 200);
        resp_free(&r);
        if (i) hits[i] = cache_hits(f->d.port);
    }
    printf("# cache hits: %g after a failed run and the same graph again (want 0 new), %g after a third (want 1)\n",
           hits[1] - hits[0], hits[2] - hits[1]);
    assert_true(hits[1] == hits[0]);
    assert_true(hits[2] == hits[1] + 1);
}

static const cfg CFG_SMALL_CACHE = {"small-cache", {"--workers", "1", "--cache-bytes", "8000000", NULL}};

/* A program over --cache-bytes (a 1024x1024 float64 fill: an 8 MiB arena)
 * is not kept; a small one is. */
static void test_cache_is_bounded_in_bytes(void **state) {
    fixture *f = *state;
    const char *big = "{\"graph\":\"sum(fill(shape=[1024,1024], value=1)*x)\",\"inputs\":{\"x\":2}}";
    const char *small = "{\"graph\":\"sum(fill(shape=[16,16], value=1)*x)\",\"inputs\":{\"x\":2}}";
    double hits[5];
    buf m = {0};
    const char *seq[4] = {big, big, small, small};
    hits[0] = cache_hits(f->d.port);
    for (int i = 0; i < 4; i++) {
        resp r;
        http(&r, f->d.port, "POST", "/v1/forward", seq[i], NULL, 20000);
        expect_status(&r, 200);
        json_t *j = expect_json(&r, "forward");
        expect_num(j, "values/f", i < 2 ? 2 * 1024 * 1024 : 2 * 256);
        json_decref(j);
        resp_free(&r);
        hits[i + 1] = cache_hits(f->d.port);
    }
    printf("# --cache-bytes 8000000: the 8 MiB program twice gave %g hits (want 0), the small one %g (want 1)\n",
           hits[2] - hits[0], hits[4] - hits[2]);
    assert_true(hits[2] == hits[0]);
    assert_true(hits[4] == hits[2] + 1);
    get_metrics(f->d.port, &m);
    double entries = metric(&m, "gradd_graph_cache_entries"), bytes = metric(&m, "gradd_graph_cache_bytes");
    buf_free(&m);
    printf("# the cache now holds %g entries in %g bytes\n", entries, bytes);
    assert_true(entries == 1);
    assert_true(bytes > 0 && bytes <= 8000000);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_constants_are_part_of_the_program, CFG_CACHE),
        T(test_failed_runs_are_not_kept, CFG_CACHE),
        T(test_cache_is_bounded_in_bytes, CFG_SMALL_CACHE),
    };
    return HARNESS_MAIN("test_cache", tests);
}

/* test_store.c -- the graph store (api/store.c) and its routes through the
 * API (api/graphs.c, gd_handle_call with a store): least recently used out
 * first at the byte bound, a lookup made most recent, a graph larger than
 * the bound never kept, an entry still used by a request after its
 * eviction, the hooks called once each, threads putting and getting at
 * once; POST /v1/graphs 201 then 200, GET, 404 graph_not_found, and a
 * ref used by gradient (the compiled-graph cache keyed by the ref). */
#include "testutil.h"

#include "api.h"
#include "cache.h"
#include "store.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gd_stored *entry(int i, size_t body_len) {
    char ref[GD_REF_LEN + 1];
    snprintf(ref, sizeof ref, "sha256:%064d", i);
    char *body = calloc(1, body_len + 1), *summary = strdup("{}");
    gd_stored *g = gd_stored_new(ref, GD_GRAPH_JSON, body, body_len, summary, 2);
    assert_non_null(g);
    return g;
}

static void ref_of(int i, char out[GD_REF_LEN + 1]) { snprintf(out, GD_REF_LEN + 1, "sha256:%064d", i); }

typedef struct counts {
    int added, evicted;
    char last_evicted[GD_REF_LEN + 1];
} counts;

static void on_added(void *ctx, const gd_stored *g) {
    (void)g;
    ((counts *)ctx)->added++;
}

static void on_evicted(void *ctx, const char *ref) {
    counts *c = ctx;
    c->evicted++;
    snprintf(c->last_evicted, sizeof c->last_evicted, "%s", ref);
}

/* What an entry of a body of body_len bytes counts in the store. */
static int64_t entry_bytes(size_t body_len) {
    gd_stored *probe = entry(0, body_len);
    int64_t one = probe->bytes;
    gd_stored_release(NULL, probe);
    return one;
}

static int held(gd_store *s, int i) {
    char ref[GD_REF_LEN + 1];
    ref_of(i, ref);
    gd_stored *g = gd_store_get(s, ref);
    gd_stored_release(s, g);
    return g != NULL;
}

static void test_lru_at_the_byte_bound(void **state) {
    (void)state;
    counts c = {0};
    gd_store_hooks h = {.ctx = &c, .added = on_added, .evicted = on_evicted};
    int64_t one = entry_bytes(1000);
    gd_store *s = gd_store_new(2 * one + one / 2, &h); /* two fit */
    assert_int_equal(gd_store_put(s, entry(1, 1000)), 1);
    assert_int_equal(gd_store_put(s, entry(2, 1000)), 1);
    assert_true(held(s, 1)); /* 1 is the most recent now */
    assert_int_equal(gd_store_put(s, entry(3, 1000)), 1);
    assert_false(held(s, 2));
    assert_true(held(s, 1) && held(s, 3));
    char want[GD_REF_LEN + 1];
    ref_of(2, want);
    assert_string_equal(c.last_evicted, want);
    assert_int_equal(gd_store_put(s, entry(3, 1000)), 0); /* there already */
    assert_int_equal(gd_store_put(s, entry(4, 100000)), -1); /* larger than the bound */
    assert_true(held(s, 1) && held(s, 3));
    assert_int_equal(c.added, 3);
    assert_int_equal(c.evicted, 1);
    int n;
    int64_t bytes, max;
    gd_store_size(s, &n, &bytes, &max);
    assert_int_equal(n, 2);
    assert_true(bytes <= max);
    /* an entry a request holds outlives its eviction */
    char r1[GD_REF_LEN + 1];
    ref_of(1, r1);
    gd_stored *g = gd_store_get(s, r1);
    assert_non_null(g);
    assert_int_equal(gd_store_put(s, entry(5, 1000)), 1);
    assert_int_equal(gd_store_put(s, entry(6, 1000)), 1);
    assert_false(held(s, 1));
    assert_int_equal(g->len, 1000); /* still readable (ASan: no use after free) */
    gd_stored_release(s, g);
    gd_store_free(s);
    gd_store *none = gd_store_new(0, NULL); /* 0 bytes: keeps nothing */
    assert_int_equal(gd_store_put(none, entry(1, 10)), -1);
    gd_store_free(none);
}

/* A parse of a stored body for gd_stored_parsed: counted, and as big as
 * the body (freed by free_parse, also counted). */
static int parses, parse_frees;

static void *parse_body(const gd_stored *g, int64_t *bytes) {
    parses++;
    *bytes = (int64_t)g->len;
    return malloc(g->len + 1);
}

static void free_parse(void *p) {
    parse_frees++;
    free(p);
}

/* A stored graph is parsed once for all its requests and kept with it,
 * counted in its bytes (an older graph goes out to make room); with no
 * room, or once it is out of the store, each caller's parse is its own. */
static void test_parsed_once(void **state) {
    (void)state;
    counts c = {0};
    gd_store_hooks h = {.ctx = &c, .added = on_added, .evicted = on_evicted};
    int64_t one = entry_bytes(1000);
    gd_store *s = gd_store_new(2 * one + one / 2, &h); /* two fit, or one with its parse */
    parses = parse_frees = 0;
    assert_int_equal(gd_store_put(s, entry(1, 1000)), 1);
    assert_int_equal(gd_store_put(s, entry(2, 1000)), 1);
    char r2[GD_REF_LEN + 1];
    ref_of(2, r2);
    gd_stored *g = gd_store_get(s, r2);
    int yours = -1;
    void *p = gd_stored_parsed(s, g, parse_body, free_parse, &yours);
    assert_non_null(p);
    assert_int_equal(yours, 0);
    assert_true(gd_stored_parsed(s, g, parse_body, free_parse, &yours) == p && yours == 0);
    assert_int_equal(parses, 1);
    assert_int_equal(g->bytes, one + 1000);
    assert_false(held(s, 1)); /* went out to make room for 2's parse */
    assert_int_equal(c.evicted, 1);
    int64_t bytes, max;
    gd_store_size(s, NULL, &bytes, &max);
    assert_true(bytes == g->bytes && bytes <= max);
    gd_stored_release(s, g);
    /* no room for a parse: the caller's own, every time */
    assert_int_equal(gd_store_put(s, entry(3, 1000)), 1); /* 2 goes out, and its parse with it */
    assert_int_equal(parse_frees, 1);
    char r3[GD_REF_LEN + 1];
    ref_of(3, r3);
    gd_store *tight = gd_store_new(one + 10, NULL);
    assert_int_equal(gd_store_put(tight, entry(3, 1000)), 1);
    gd_stored *t = gd_store_get(tight, r3);
    void *mine = gd_stored_parsed(tight, t, parse_body, free_parse, &yours);
    assert_true(mine && yours == 1 && t->parsed == NULL);
    free_parse(mine);
    gd_stored_release(tight, t);
    gd_store_free(tight);
    assert_int_equal(parses, 2);
    gd_store_free(s);
    assert_int_equal(parse_frees, 2); /* 2's kept parse, and the caller's own */
}

static void *hammer(void *arg) {
    gd_store *s = arg;
    for (int k = 0; k < 2000; k++) {
        int i = rand() % 50;
        if (k % 3 == 0) gd_store_put(s, entry(i, 200));
        else held(s, i);
    }
    return NULL;
}

static void test_threads(void **state) {
    (void)state;
    gd_store *s = gd_store_new(20000, NULL);
    pthread_t t[4];
    for (int i = 0; i < 4; i++) pthread_create(&t[i], NULL, hammer, s);
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    int n;
    int64_t bytes, max;
    gd_store_size(s, &n, &bytes, &max);
    assert_true(bytes <= max && n > 0);
    gd_store_free(s);
}

static const char GRAPH[] = "{\"inputs\":{\"x\":[2]},\"params\":{\"w\":[2]},\"nodes\":[{\"name\":\"y\",\"op\":\"mul\","
                            "\"inputs\":[\"x\",\"w\"]},{\"name\":\"loss\",\"expr\":\"sum(y*y)\"}],\"loss\":\"loss\"}";

static int call(const char *route, const char *body, const char *ref, gd_store *s, gd_cache *c, gd_response *out) {
    gd_call k = {.route = route, .body = body, .len = body ? strlen(body) : 0, .store = s, .cache = c, .path_ref = ref};
    gd_handle_call(&k, out);
    return out->status;
}

static void test_routes_through_the_api(void **state) {
    (void)state;
    gd_store *s = gd_store_new(1 << 20, NULL);
    gd_cache *c = gd_cache_new(16, 1 << 30);
    gd_response r;
    assert_int_equal(call("graphs", GRAPH, NULL, s, c, &r), 201);
    /* the ref is the sha256 of the body (Python's hashlib.sha256 of GRAPH) */
    json_t *j = json_loads(r.body, 0, NULL);
    char ref[GD_REF_LEN + 1];
    snprintf(ref, sizeof ref, "%s", json_string_value(json_object_get(j, "ref")));
    assert_string_equal(ref, "sha256:d0f034c0d1f871eab648f347fdeb383a9d1e2a27207822183f015d88821d0a6b");
    json_decref(j);
    gd_response_free(&r);
    assert_int_equal(call("graphs", GRAPH, NULL, s, c, &r), 200);
    gd_response_free(&r);
    assert_int_equal(call("graphs/{ref}", NULL, ref, s, c, &r), 200);
    gd_response_free(&r);
    assert_int_equal(call("graphs/{ref}", NULL, "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                          s, c, &r),
                     404);
    assert_non_null(strstr(r.body, "graph_not_found"));
    gd_response_free(&r);
    char body[512];
    snprintf(body, sizeof body, "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]}}", ref);
    for (int pass = 0; pass < 2; pass++) {
        assert_int_equal(call("gradient", body, NULL, s, c, &r), 200);
        j = json_loads(r.body, 0, NULL);
        assert_true(json_real_value(json_object_get(json_object_get(j, "values"), "loss")) == 73 ||
                    json_integer_value(json_object_get(json_object_get(j, "values"), "loss")) == 73);
        json_decref(j);
        gd_response_free(&r);
    }
    unsigned long long hits, misses;
    gd_cache_stats(c, &hits, &misses);
    assert_int_equal(hits, 1); /* keyed by the ref: the second request reused the program */
    /* no store: a ref is unknown */
    assert_int_equal(call("gradient", body, NULL, NULL, NULL, &r), 404);
    gd_response_free(&r);
    gd_cache_free(c);
    gd_store_free(s);
}

int main(void) {
    gd_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_at_the_byte_bound),
        cmocka_unit_test(test_parsed_once),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_routes_through_the_api),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}

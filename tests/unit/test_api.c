/* test_api.c -- API behaviour that needs more than one request: the
 * gradient graph posted back to forward gives the gradient; optimizer state
 * handed back over two requests equals two steps in one (the service is
 * stateless); the op catalogue is lib's table; limits answer 413 before
 * allocating; float32 and float64 agree. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "routes.h"
#include "testutil.h"

/* POST body to route; returns the parsed response (caller decrefs) and its
 * status in *status. */
static json_t *call(const char *route, const char *body, int *status) {
    gd_response res;
    gd_handle(route, body, body ? strlen(body) : 0, NULL, &res);
    *status = res.status;
    json_error_t je;
    json_t *j = json_loadb(res.body, res.len, 0, &je);
    if (!j) fail_msg("response is not JSON: %.*s", (int)res.len, res.body);
    gd_response_free(&res);
    return j;
}

static json_t *call_ok(const char *route, const char *body) {
    int st;
    json_t *j = call(route, body, &st);
    if (st != 200) {
        char *s = json_dumps(j, 0);
        fail_msg("%s answered %d: %s", route, st, s);
    }
    return j;
}

static double num_at(const json_t *j, const char *a, const char *b) {
    const json_t *v = json_object_get(json_object_get(j, a), b);
    if (!json_is_number(v)) fail_msg("no number at /%s/%s", a, b);
    return json_number_value(v);
}

#define MLP_GRAPH                                                                                                     \
    "{\"inputs\":{\"x\":[-1,3],\"y\":[-1]},\"params\":{\"W\":[3,4],\"b\":[4],\"V\":[4,2]},"                           \
    "\"nodes\":[{\"name\":\"h\",\"expr\":\"tanh(x @ W + b)\"},{\"name\":\"logits\",\"op\":\"matmul\","                \
    "\"inputs\":[\"h\",\"V\"]},{\"name\":\"loss\",\"expr\":\"cross_entropy(logits, y) + 0.01*sum(W^2)\"}],"           \
    "\"loss\":\"loss\"}"
#define MLP_VALUES                                                                                                    \
    "\"inputs\":{\"x\":[[1,2,3],[0.5,-1,2],[-2,0,1]],\"y\":[0,1,1]},"                                                \
    "\"params\":{\"W\":[[0.1,-0.2,0.3,0.05],[0.2,0.1,-0.1,0.3],[-0.3,0.2,0.1,-0.05]],\"b\":[0,0.1,-0.1,0],"          \
    "\"V\":[[0.5,-0.5],[0.2,0.1],[-0.3,0.4],[0.1,0.1]]}"

/* The exported gradient graph, posted to forward, computes the gradient. */
static void test_gradient_graph_round_trip(void **state) {
    (void)state;
    json_t *grad = call_ok("gradient", "{\"graph\":" MLP_GRAPH "," MLP_VALUES "}");
    json_t *gg = call_ok("gradient-graph", "{\"graph\":" MLP_GRAPH "," MLP_VALUES "}");
    const json_t *names = json_object_get(gg, "gradients");
    assert_int_equal(json_object_size(names), 3);
    /* forward with outputs = the gradient nodes */
    json_t *req = json_pack("{s:O,s:o}", "graph", json_object_get(gg, "graph"), "outputs", json_array());
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)names, k, v) json_array_append(json_object_get(req, "outputs"), v);
    json_error_t je;
    json_t *vals = json_loads("{" MLP_VALUES "}", 0, &je);
    json_object_update(req, vals);
    char *body = json_dumps(req, 0);
    json_t *fwd = call_ok("forward", body);
    json_object_foreach((json_t *)names, k, v) {
        const json_t *a = json_object_get(json_object_get(grad, "gradients"), k);
        const json_t *b = json_object_get(json_object_get(fwd, "values"), json_string_value(v));
        assert_non_null(a);
        assert_non_null(b);
        if (!json_equal(a, b)) fail_msg("gradient of %s differs between /gradient and the exported graph", k);
    }
    free(body);
    json_decref(vals);
    json_decref(req);
    json_decref(fwd);
    json_decref(gg);
    json_decref(grad);
}

/* Two requests of one Adam step, handing state back, equal one request of
 * two steps, bit for bit. */
static void test_step_state_round_trip(void **state) {
    (void)state;
    const char *opt = "\"optimizer\":{\"name\":\"adam\",\"lr\":0.01}";
    json_t *two = call_ok("step", "{\"graph\":" MLP_GRAPH "," MLP_VALUES ",\"steps\":2,\"optimizer\":{\"name\":\"adam\",\"lr\":0.01}}");
    json_t *one = call_ok("step", "{\"graph\":" MLP_GRAPH "," MLP_VALUES ",\"optimizer\":{\"name\":\"adam\",\"lr\":0.01}}");
    /* second request: params and state from the first */
    json_error_t je;
    json_t *req = json_loads("{\"graph\":" MLP_GRAPH "," MLP_VALUES "}", 0, &je);
    json_object_set(req, "params", json_object_get(one, "params"));
    json_object_set(req, "state", json_object_get(one, "state"));
    json_t *o = json_loads("{\"name\":\"adam\",\"lr\":0.01}", 0, &je);
    json_object_set_new(req, "optimizer", o);
    char *body = json_dumps(req, 0);
    json_t *again = call_ok("step", body);
    (void)opt;
    if (!json_equal(json_object_get(two, "params"), json_object_get(again, "params")))
        fail_msg("state handed back did not reproduce two steps");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(again, "state"), "step")), 2);
    /* the loss fell */
    const json_t *losses = json_object_get(two, "losses");
    assert_int_equal(json_array_size(losses), 2);
    assert_true(json_number_value(json_array_get(losses, 1)) < json_number_value(json_array_get(losses, 0)));
    free(body);
    json_decref(req);
    json_decref(again);
    json_decref(one);
    json_decref(two);
}

static void test_ops_catalogue(void **state) {
    (void)state;
    int st;
    json_t *j = call("ops", NULL, &st);
    assert_int_equal(st, 200);
    const json_t *ops = json_object_get(j, "ops");
    assert_int_equal(json_array_size(ops), gr_op_count());
    for (int i = 0; i < gr_op_count(); i++) {
        const json_t *o = json_array_get(ops, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(o, "name")), gr_op_name(gr_op_at(i)));
        assert_int_equal(json_integer_value(json_object_get(o, "arity")), gr_op_arity(gr_op_at(i)));
        assert_true(strlen(json_string_value(json_object_get(o, "derivative"))) > 10);
    }
    json_decref(j);
}

static void test_limits_before_allocation(void **state) {
    (void)state;
    gd_limits lim = gd_limits_default();
    lim.max_total_bytes = 3000;
    gd_response res;
    /* 200 float64 values are 1600 bytes, more than the 3000 less the
     * ~1.6 KB the JSON tree takes: refused, though the body is small */
    char body[4096] = "{\"graph\":\"sum(x)\",\"inputs\":{\"x\":{\"shape\":[200],\"b64\":\"";
    size_t n = strlen(body);
    for (int i = 0; i < 2136; i++) body[n++] = 'A'; /* 1602 bytes of base64 */
    strcpy(body + n, "\"}}}");
    gd_handle("forward", body, strlen(body), &lim, &res);
    assert_int_equal(res.status, 413);
    assert_non_null(strstr(res.body, "\"path\":\"/inputs/x\""));
    gd_response_free(&res);
    /* the body limit itself */
    lim = gd_limits_default();
    lim.max_body_bytes = 10;
    gd_handle("forward", "{\"graph\":\"x\",\"inputs\":{\"x\":1}}", 29, &lim, &res);
    assert_int_equal(res.status, 413);
    gd_response_free(&res);
}

/* An ONNX node that lowers to many libgrad nodes (an LSTM unrolled over
 * its sequence) is held to the request's node limit as it is lowered: the
 * 413 names the node, not only the finished graph. */
static void test_onnx_lowering_within_the_node_limit(void **state) {
    (void)state;
    FILE *f = fopen("tests/api/cases/onnx-lstm-bidirectional-clip/request.json", "rb");
    assert_non_null(f);
    static char body[1 << 16];
    size_t n = fread(body, 1, sizeof body, f);
    fclose(f);
    gd_limits lim = gd_limits_default();
    lim.max_nodes = 100; /* the two directions of 4 steps take about 300 */
    gd_response res;
    gd_handle("forward", body, n, &lim, &res);
    assert_int_equal(res.status, 413);
    assert_non_null(strstr(res.body, "node \\\"y\\\" (LSTM): the graph would exceed the limit of 100 nodes"));
    gd_response_free(&res);
    lim.max_nodes = 1000;
    gd_handle("forward", body, n, &lim, &res);
    assert_int_equal(res.status, 200);
    gd_response_free(&res);
}

/* float32 and float64 of the same request agree to float32 precision, and
 * float32 values print in float32's shortest form. */
static void test_dtypes_agree(void **state) {
    (void)state;
    json_t *a = call_ok("gradient", "{\"graph\":" MLP_GRAPH "," MLP_VALUES "}");
    char g32[2048];
    snprintf(g32, sizeof g32, "%s", MLP_GRAPH);
    json_error_t je;
    json_t *g = json_loads(g32, 0, &je);
    json_object_set_new(g, "dtype", json_string("float32"));
    json_t *req = json_loads("{" MLP_VALUES "}", 0, &je);
    json_object_set_new(req, "graph", g);
    char *body = json_dumps(req, 0);
    json_t *b = call_ok("gradient", body);
    double la = num_at(a, "values", "loss"), lb = num_at(b, "values", "loss");
    tu_close(lb, la, 1e-6, 1e-5, "float32 loss");
    /* float32 values print in float32's shortest form: at most 9 digits */
    gd_response res;
    gd_handle("gradient", body, strlen(body), NULL, &res);
    const char *t = strstr(res.body, "\"loss\":");
    assert_non_null(t);
    t += 7;
    int digits = 0;
    for (const char *q = t; *q && *q != ',' && *q != '}' && *q != 'e'; q++) digits += *q >= '0' && *q <= '9';
    assert_true(digits <= 10); /* 9 significant digits, plus a leading 0 */
    assert_true((double)strtof(t, NULL) == (double)(float)lb);
    gd_response_free(&res);
    free(body);
    json_decref(req);
    json_decref(a);
    json_decref(b);
}

static void test_unknown_route_and_errors(void **state) {
    (void)state;
    int st;
    /* a later batch that fails after its tensor was allocated: a clean 400
     * and, under LeakSanitizer, nothing left behind */
    json_t *rb = call("step",
                      "{\"graph\":\"sum((w*x - y)^2)\",\"params\":{\"w\":1},\"inputs\":{\"y\":3},"
                      "\"batches\":[{\"x\":[[1,2],[3,4]]},{\"x\":[[1,2],[3]]}]}",
                      &st);
    assert_int_equal(st, 400);
    assert_string_equal(json_string_value(json_object_get(rb, "path")), "/batches/1/x/1");
    json_decref(rb);
    json_t *j = call("nope", "{}", &st);
    assert_int_equal(st, 404);
    assert_string_equal(json_string_value(json_object_get(j, "code")), "unknown_route");
    json_decref(j);
    /* an error names the node's operand by JSON pointer */
    j = call("forward",
             "{\"graph\":{\"inputs\":{\"a\":[2,3],\"b\":[4]},\"nodes\":[{\"name\":\"s\",\"op\":\"add\",\"inputs\":[\"a\",\"b\"]}],"
             "\"loss\":\"s\"},\"inputs\":{\"a\":[[1,2,3],[4,5,6]],\"b\":[1,2,3,4]}}",
             &st);
    assert_int_equal(st, 422);
    assert_string_equal(json_string_value(json_object_get(j, "path")), "/graph/nodes/0/inputs/1");
    assert_string_equal(json_string_value(json_object_get(j, "code")), "shape_mismatch");
    json_decref(j);
}

/* A request whose cancel flag is raised answers 504 and frees everything
 * (the daemon raises it when a deadline passes). */
static void test_cancelled(void **state) {
    (void)state;
    volatile int cancel = 1;
    gd_response res;
    const char *body = "{\"graph\":" MLP_GRAPH "," MLP_VALUES ",\"steps\":100}";
    gd_handle_cancellable("step", body, strlen(body), NULL, &cancel, &res);
    assert_int_equal(res.status, 504);
    assert_non_null(strstr(res.body, "\"code\":\"cancelled\""));
    gd_response_free(&res);
    cancel = 0;
    gd_handle_cancellable("step", body, strlen(body), NULL, &cancel, &res);
    assert_int_equal(res.status, 200);
    gd_response_free(&res);
}

/* Triton's binary extension both ways, and its size checks. */
static void test_binary_tensors(void **state) {
    (void)state;
    const char *hdr = "{\"graph\":\"x*y\",\"inputs\":{\"y\":{\"shape\":[2],\"parameters\":{\"binary_data_size\":16}},"
                      "\"x\":{\"shape\":[2],\"parameters\":{\"binary_data_size\":16}}},\"binary_data_output\":true}";
    double bin[4] = {10, 20, 1.5, -2}; /* y first: the order of appearance in the text */
    gd_call call = {.route = "forward", .body = hdr, .len = strlen(hdr), .binary = (const char *)bin, .binary_len = 32};
    gd_response res;
    gd_handle_call(&call, &res);
    assert_int_equal(res.status, 200);
    assert_true(res.json_len + 16 == res.len);
    assert_non_null(strstr(res.body, "\"binary_data_size\":16"));
    double out[2];
    memcpy(out, res.body + res.json_len, sizeof out);
    assert_true(out[0] == 15 && out[1] == -40);
    gd_response_free(&res);
    /* one byte short, and one too many */
    call.binary_len = 31;
    gd_handle_call(&call, &res);
    assert_int_equal(res.status, 400);
    assert_non_null(strstr(res.body, "bad_binary"));
    gd_response_free(&res);
    double more[5] = {0};
    call.binary = (const char *)more;
    call.binary_len = 40;
    gd_handle_call(&call, &res);
    assert_int_equal(res.status, 400);
    gd_response_free(&res);
    /* a size that is not the tensor's */
    const char *bad = "{\"graph\":\"x*2\",\"inputs\":{\"x\":{\"shape\":[3],\"parameters\":{\"binary_data_size\":16}}}}";
    gd_call c2 = {.route = "forward", .body = bad, .len = strlen(bad), .binary = (const char *)bin, .binary_len = 16};
    gd_handle_call(&c2, &res);
    assert_int_equal(res.status, 400);
    assert_non_null(strstr(res.body, "\"path\":\"/inputs/x/parameters/binary_data_size\""));
    gd_response_free(&res);
}

/* Response body of route on body through cache. */
static char *cached_call(gd_cache *c, const char *route, const char *body) {
    gd_call call = {.route = route, .body = body, .len = strlen(body), .cache = c};
    gd_response res;
    gd_handle_call(&call, &res);
    if (res.status != 200) fail_msg("%s: %d %s", route, res.status, res.body);
    char *out = res.body;
    char *stats = strstr(out, ",\"stats\"");
    if (stats) strcpy(stats, "}"); /* timings differ run to run */
    return out;
}

/* The compiled-graph cache changes speed only: a hit gives what a fresh
 * compile gives, new values are used (never stale ones), and shapes or
 * constants that differ miss. */
static void test_graph_cache(void **state) {
    (void)state;
    gd_cache *c = gd_cache_new(4, (int64_t)64 << 20);
    unsigned long long hits, misses;
    const char *a = "{\"graph\":" MLP_GRAPH "," MLP_VALUES "}";
    char *first = cached_call(c, "gradient", a), *second = cached_call(c, "gradient", a);
    gd_cache_stats(c, &hits, &misses);
    assert_true(hits == 1 && misses == 1);
    assert_string_equal(first, second);
    /* the same graph on other values: a hit, with the new numbers */
    const char *b1 = "{\"graph\":\"x*y\",\"inputs\":{\"x\":2,\"y\":3}}", *b2 = "{\"graph\":\"x*y\",\"inputs\":{\"x\":5,\"y\":7}}";
    free(cached_call(c, "gradient", b1));
    char *r2 = cached_call(c, "gradient", b2);
    assert_string_equal(r2, "{\"values\":{\"f\":35},\"gradients\":{\"x\":7,\"y\":5}}");
    gd_cache_stats(c, &hits, &misses);
    assert_true(hits == 2 && misses == 2);
    /* other shapes, another route, other constants: misses, right answers */
    char *r3 = cached_call(c, "gradient", "{\"graph\":\"sum(x*y)\",\"inputs\":{\"x\":[1,2],\"y\":[3,4]}}");
    assert_string_equal(r3, "{\"values\":{\"f\":11},\"gradients\":{\"x\":[3,4],\"y\":[1,2]}}");
    char *r4 = cached_call(c, "forward", b2);
    assert_string_equal(r4, "{\"values\":{\"f\":35}}");
    const char *k1 = "{\"graph\":{\"inputs\":{\"x\":[]},\"constants\":{\"k\":2},\"nodes\":[{\"name\":\"f\",\"expr\":\"k*x\"}],"
                     "\"loss\":\"f\"},\"inputs\":{\"x\":10}}";
    const char *k2 = "{\"graph\":{\"inputs\":{\"x\":[]},\"constants\":{\"k\":3},\"nodes\":[{\"name\":\"f\",\"expr\":\"k*x\"}],"
                     "\"loss\":\"f\"},\"inputs\":{\"x\":10}}";
    char *r5 = cached_call(c, "forward", k1), *r6 = cached_call(c, "forward", k2);
    assert_string_equal(r5, "{\"values\":{\"f\":20}}");
    assert_string_equal(r6, "{\"values\":{\"f\":30}}");
    /* step through the cache: the params move on from request to request */
    const char *s1 = "{\"graph\":\"(w*x - y)^2\",\"params\":{\"w\":1},\"inputs\":{\"x\":2,\"y\":3},\"optimizer\":{\"lr\":0.25}}";
    char *t1 = cached_call(c, "step", s1), *t2 = cached_call(c, "step", s1);
    assert_string_equal(t1, t2);
    assert_non_null(strstr(t1, "\"params\":{\"w\":2}"));
    free(first), free(second), free(r2), free(r3), free(r4), free(r5), free(r6), free(t1), free(t2);
    gd_cache_free(c);
}

/* Legal JSON whose tree would take many times its size is refused with
 * 413 while it is read, whatever its shape and wherever it is; an unknown
 * top-level field is refused before its value is read. */
static void test_json_tree_budget(void **state) {
    (void)state;
    static const struct {
        const char *what, *item;
    } shapes[] = {{"empty objects", "{}"}, {"empty strings", "\"\""}, {"empty arrays", "[]"},
                  {"ragged numbers", "[1,[2]]"}, {"short strings", "\"ab\""}, {"arrays of booleans", "[true]"}};
    size_t want = (size_t)16 << 20;
    char *body = malloc(want + 256);
    assert_non_null(body);
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        for (int where = 0; where < 2; where++) {
            size_t n = (size_t)sprintf(body, where ? "{\"graph\":\"x\",\"inputs\":{\"x\":1},\"junk\":["
                                                   : "{\"graph\":\"sum(x)\",\"inputs\":{\"x\":[");
            size_t il = strlen(shapes[k].item);
            while (n + il + 8 < want) {
                memcpy(body + n, shapes[k].item, il);
                n += il;
                body[n++] = ',';
            }
            memcpy(body + n, shapes[k].item, il);
            n += il;
            n += (size_t)sprintf(body + n, where ? "]}" : "]}}");
            gd_response res;
            double t0 = gd_now_ms();
            gd_handle("forward", body, n, NULL, &res);
            double ms = gd_now_ms() - t0;
            char want_code[64];
            snprintf(want_code, sizeof want_code, "\"code\":\"%s\"", where ? "unknown_field" : "limit_exceeded");
            if (res.status != (where ? 400 : 413) || !strstr(res.body, want_code))
                fail_msg("%s %s: %d %.300s", shapes[k].what, where ? "in an unknown field" : "as an input", res.status,
                         res.body);
            if (k == 0) printf("# 16 MB of %s %s: %d in %.0f ms\n", shapes[k].what,
                               where ? "in an unknown field" : "as an input", res.status, ms);
            gd_response_free(&res);
        }
    }
    free(body);
}

/* A graph's own memory (its nodes, the derivative nodes autodiff adds, the
 * compiler's tables) counts against max_total_bytes, not only tensors and
 * arenas: a long chain of scalars is refused under a small budget. */
static void test_graph_memory_is_charged(void **state) {
    (void)state;
    size_t cap = 1 << 20;
    char *body = malloc(cap);
    assert_non_null(body);
    /* 8 expression nodes, each its predecessor plus 4000 ones */
    size_t n = (size_t)snprintf(body, cap, "{\"graph\":{\"inputs\":{\"x\":[]},\"nodes\":[");
    for (int k = 0; k < 8; k++) {
        n += (size_t)snprintf(body + n, cap - n, "%s{\"name\":\"a%d\",\"expr\":\"%s", k ? "," : "", k, k ? "" : "x");
        if (k) n += (size_t)snprintf(body + n, cap - n, "a%d", k - 1);
        for (int i = 0; i < 4000; i++) memcpy(body + n, "+1", 2), n += 2;
        n += (size_t)snprintf(body + n, cap - n, "\"}");
    }
    n += (size_t)snprintf(body + n, cap - n, "],\"loss\":\"a7\"},\"inputs\":{\"x\":2}}");
    gd_response res;
    gd_handle("gradient", body, n, NULL, &res);
    if (res.status != 200) fail_msg("default limits: %d %.300s", res.status, res.body);
    gd_response_free(&res);
    gd_limits lim = gd_limits_default();
    lim.max_total_bytes = 16 << 20;
    gd_handle("gradient", body, n, &lim, &res);
    printf("# a chain of 32,000 additions: 200 with the default limits, %d under 16 MiB\n", res.status);
    if (res.status != 413 || !strstr(res.body, "limit_exceeded")) fail_msg("16 MiB: %d %.300s", res.status, res.body);
    gd_response_free(&res);
    free(body);
}

/* The smallest max_total_bytes with which route answers 200 (answers are
 * monotone in the limit). */
static int64_t least_total_bytes(const char *route, const char *body) {
    int64_t lo = 1, hi = (int64_t)1 << 30;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        gd_limits lim = gd_limits_default();
        lim.max_total_bytes = mid;
        gd_response res;
        gd_handle(route, body, strlen(body), &lim, &res);
        if (res.status == 200) hi = mid;
        else lo = mid + 1;
        gd_response_free(&res);
    }
    return lo;
}

/* /v1/check holds two programs at once (loss and gradients, and the loss
 * alone for the finite differences): together they stay within
 * max_total_bytes, so check needs at least the forward program's arena
 * more than the gradient route does with the same body. */
static void test_check_charges_both_programs(void **state) {
    (void)state;
    char body[8192];
    size_t n = (size_t)snprintf(body, sizeof body, "{\"graph\":\"sum(exp(x)*tanh(x))\",\"inputs\":{\"x\":[");
    for (int i = 0; i < 512; i++) n += (size_t)snprintf(body + n, sizeof body - n, i ? ",%d" : "%d", i % 7);
    snprintf(body + n, sizeof body - n, "]}}");
    json_t *fw = call_ok("forward", body);
    int64_t fwd_arena = (int64_t)num_at(fw, "stats", "arena_bytes");
    json_decref(fw);
    int64_t grad_least = least_total_bytes("gradient", body), check_least = least_total_bytes("check", body);
    printf("# least max_total_bytes: gradient %lld, check %lld; the forward program's arena %lld\n",
           (long long)grad_least, (long long)check_least, (long long)fwd_arena);
    assert_true(fwd_arena >= 4096);
    assert_true(check_least >= grad_least + fwd_arena);
}

/* A call with a work budget either answers exactly as without one, or,
 * past the budget, answers GD_DEFERRED with no body; the deferred
 * request then runs in full without a budget. */
static void test_work_budget(void **state) {
    (void)state;
    const char *small = "{\"graph\":\"(a+b)*(b+1)\",\"inputs\":{\"a\":2,\"b\":1}}";
    gd_call c = {.route = "gradient", .body = small, .len = strlen(small), .work_budget = 1000};
    gd_response res;
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"gradients\":{\"a\":2,\"b\":5}"));
    gd_response_free(&res);
    /* 100 steps of a 3x4x2 MLP: ~100 flops per run is too much for 1000 */
    const char *many = "{\"graph\":" MLP_GRAPH "," MLP_VALUES ",\"steps\":100}";
    c = (gd_call){.route = "step", .body = many, .len = strlen(many), .work_budget = 1000};
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, GD_DEFERRED);
    assert_null(res.body);
    gd_response_free(&res);
    c.work_budget = 0;
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, 200);
    assert_non_null(strstr(res.body, "\"losses\":["));
    gd_response_free(&res);
    /* a budget too small for even the scalar graph defers it too */
    c = (gd_call){.route = "forward", .body = small, .len = strlen(small), .work_budget = 1};
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, GD_DEFERRED);
    gd_response_free(&res);
    /* errors found before running are answered, not deferred */
    const char *bad = "{\"graph\":\"a+\",\"inputs\":{\"a\":1}}";
    c = (gd_call){.route = "forward", .body = bad, .len = strlen(bad), .work_budget = 1};
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, 400);
    assert_non_null(strstr(res.body, "\"code\":\"bad_expression\""));
    gd_response_free(&res);
}

int main(void) {
    gd_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradient_graph_round_trip), cmocka_unit_test(test_step_state_round_trip),
        cmocka_unit_test(test_ops_catalogue),             cmocka_unit_test(test_limits_before_allocation),
        cmocka_unit_test(test_onnx_lowering_within_the_node_limit),
        cmocka_unit_test(test_dtypes_agree),              cmocka_unit_test(test_unknown_route_and_errors),
        cmocka_unit_test(test_cancelled),                 cmocka_unit_test(test_binary_tensors),
        cmocka_unit_test(test_graph_cache),               cmocka_unit_test(test_work_budget),
        cmocka_unit_test(test_check_charges_both_programs), cmocka_unit_test(test_json_tree_budget),
        cmocka_unit_test(test_graph_memory_is_charged),
    };
    return cmocka_run_group_tests_name("api", tests, NULL, NULL);
}

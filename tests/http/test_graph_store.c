/* test_graph_store.c -- the content-addressed graph store over HTTP
 * (POST /v1/graphs, GET /v1/graphs/{ref}, "graph": {"ref": ...}): 201 for
 * a new graph and 200 for one stored already, the summary on GET, 404
 * graph_not_found for a ref the replica lacks, a ref used by forward and
 * gradient (and the compiled-graph cache keyed by it), an ONNX model by
 * ref, least-recently-used eviction at --graph-store-bytes, persistence
 * in --graph-dir across a restart (and what a restarted replica refuses
 * to load), and bad bodies refused (400 malformed, 413 over the body limit
 * before the body is read, 415 another media type). Expected values are
 * worked by hand: loss = sum((x*w)^2) at x = [1, 2], w = [3, 4] is 73, its
 * gradient 2 x^2 w = [6, 32]; the ONNX model is logits = x @ W + b with W
 * = [[1,2],[3,4],[5,6]], b = [0.5, -0.5], at x = [1, 1, 1]: [9.5, 11.5]. */
#define _GNU_SOURCE
#include "harness.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* The long form's graph object, padded with pad spaces (each padding is
 * another body, so another ref). */
static char *graph_body(int pad) {
    buf b = {0};
    buf_printf(&b, "{\"inputs\":{\"x\":[2]},\"params\":{\"w\":[2]},\"nodes\":[{\"name\":\"y\",\"op\":\"mul\","
                   "\"inputs\":[\"x\",\"w\"]},{\"name\":\"loss\",\"expr\":\"sum(y*y)\"}],\"loss\":\"loss\"}");
    for (int i = 0; i < pad; i++) buf_put(&b, " ", 1);
    return b.p;
}

static const char *const JSON_CT[] = {"Content-Type: application/json", NULL};
static const char *const ONNX_CT[] = {"Content-Type: application/onnx", NULL};

/* POST body to /v1/graphs; the ref answered (into ref), and the status. */
static long upload(int port, const char *body, size_t len, const char *const *ct, char *ref, size_t cap) {
    gradd_client *c = client_for(port, 10000);
    resp r;
    gradd_request(c, "POST", "/v1/graphs", body, len, ct, 10000, &r);
    long status = r.status;
    json_t *j = jparse(&r);
    const char *s = j ? jstr(j, "ref") : NULL;
    snprintf(ref, cap, "%s", s ? s : "");
    json_decref(j);
    resp_free(&r);
    gradd_client_free(c);
    return status;
}

/* A request body naming ref, with the values of x and w. */
static char *ref_request(const char *ref, const char *extra) {
    buf b = {0};
    buf_printf(&b, "{\"graph\":{\"ref\":\"%s\"%s},\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]}}", ref, extra);
    return b.p;
}

static long get_graph(int port, const char *ref) {
    char path[160];
    snprintf(path, sizeof path, "/v1/graphs/%s", ref);
    return http_status(port, path, 10000);
}

/* logits = input.1 @ fc.weight + fc.bias, opset 17, made with onnx.helper. */
static const unsigned char model_onnx[] = {
  0x08, 0x08, 0x3a, 0xe0, 0x01, 0x0a, 0x31, 0x0a, 0x07, 0x69, 0x6e, 0x70,
  0x75, 0x74, 0x2e, 0x31, 0x0a, 0x09, 0x66, 0x63, 0x2e, 0x77, 0x65, 0x69,
  0x67, 0x68, 0x74, 0x12, 0x13, 0x2f, 0x66, 0x63, 0x2f, 0x4d, 0x61, 0x74,
  0x4d, 0x75, 0x6c, 0x5f, 0x6f, 0x75, 0x74, 0x70, 0x75, 0x74, 0x5f, 0x30,
  0x22, 0x06, 0x4d, 0x61, 0x74, 0x4d, 0x75, 0x6c, 0x0a, 0x2b, 0x0a, 0x13,
  0x2f, 0x66, 0x63, 0x2f, 0x4d, 0x61, 0x74, 0x4d, 0x75, 0x6c, 0x5f, 0x6f,
  0x75, 0x74, 0x70, 0x75, 0x74, 0x5f, 0x30, 0x0a, 0x07, 0x66, 0x63, 0x2e,
  0x62, 0x69, 0x61, 0x73, 0x12, 0x06, 0x6c, 0x6f, 0x67, 0x69, 0x74, 0x73,
  0x22, 0x03, 0x41, 0x64, 0x64, 0x12, 0x01, 0x6d, 0x2a, 0x2b, 0x08, 0x03,
  0x08, 0x02, 0x10, 0x01, 0x42, 0x09, 0x66, 0x63, 0x2e, 0x77, 0x65, 0x69,
  0x67, 0x68, 0x74, 0x4a, 0x18, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00,
  0x40, 0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x40, 0x00, 0x00, 0xa0,
  0x40, 0x00, 0x00, 0xc0, 0x40, 0x2a, 0x17, 0x08, 0x02, 0x10, 0x01, 0x42,
  0x07, 0x66, 0x63, 0x2e, 0x62, 0x69, 0x61, 0x73, 0x4a, 0x08, 0x00, 0x00,
  0x00, 0x3f, 0x00, 0x00, 0x00, 0xbf, 0x5a, 0x1a, 0x0a, 0x07, 0x69, 0x6e,
  0x70, 0x75, 0x74, 0x2e, 0x31, 0x12, 0x0f, 0x0a, 0x0d, 0x08, 0x01, 0x12,
  0x09, 0x0a, 0x03, 0x12, 0x01, 0x4e, 0x0a, 0x02, 0x08, 0x03, 0x62, 0x19,
  0x0a, 0x06, 0x6c, 0x6f, 0x67, 0x69, 0x74, 0x73, 0x12, 0x0f, 0x0a, 0x0d,
  0x08, 0x01, 0x12, 0x09, 0x0a, 0x03, 0x12, 0x01, 0x4e, 0x0a, 0x02, 0x08,
  0x02, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x11
};
static const unsigned int model_onnx_len = 235;

static const cfg CFG_STORE = {"graph-store", {"--workers", "1", NULL}};

static void test_upload_get_and_use(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    char *g = graph_body(0), ref[128], ref2[128];
    assert_int_equal(upload(port, g, strlen(g), JSON_CT, ref, sizeof ref), 201);
    assert_int_equal(strncmp(ref, "sha256:", 7), 0);
    assert_int_equal(strlen(ref), 71);
    assert_int_equal(upload(port, g, strlen(g), JSON_CT, ref2, sizeof ref2), 200); /* stored already */
    assert_string_equal(ref, ref2);

    char path[160];
    snprintf(path, sizeof path, "/v1/graphs/%s", ref);
    resp r;
    http(&r, port, "GET", path, NULL, NULL, 10000);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "summary");
    expect_str(j, "ref", ref);
    expect_str(j, "format", "json");
    expect_num(j, "inputs/x/0", 2);
    expect_num(j, "params/w/0", 2);
    expect_num(j, "ops/mul", 1);
    assert_non_null(jpath(j, "outputs/loss"));
    json_decref(j);
    resp_free(&r);

    http(&r, port, "GET", "/v1/graphs/sha256:0000000000000000000000000000000000000000000000000000000000000000", NULL,
         NULL, 10000);
    expect_error(&r, 404, "graph_not_found");
    resp_free(&r);
    http(&r, port, "GET", "/v1/graphs/nope", NULL, NULL, 10000);
    expect_error(&r, 400, "invalid_request");
    resp_free(&r);
    http(&r, port, "POST", "/v1/graphs/nope", "{}", NULL, 10000);
    expect_error(&r, 405, "method_not_allowed");
    resp_free(&r);

    /* the ref on forward and gradient, twice each: the second from the compiled-graph cache */
    buf m0 = {0}, m1 = {0};
    get_metrics(port, &m0);
    char *req = ref_request(ref, "");
    for (int pass = 0; pass < 2; pass++) {
        http(&r, port, "POST", "/v1/forward", req, NULL, 10000);
        expect_status(&r, 200);
        j = expect_json(&r, "forward by ref");
        expect_num(j, "values/loss", 73);
        json_decref(j);
        resp_free(&r);
        http(&r, port, "POST", "/v1/gradient", req, NULL, 10000);
        expect_status(&r, 200);
        j = expect_json(&r, "gradient by ref");
        expect_num(j, "values/loss", 73);
        expect_num(j, "gradients/w/0", 6);
        expect_num(j, "gradients/w/1", 32);
        json_decref(j);
        resp_free(&r);
    }
    get_metrics(port, &m1);
    double hits = metric(&m1, "gradd_graph_cache_hits_total") - metric(&m0, "gradd_graph_cache_hits_total");
    if (hits < 2) fail_msg("the second forward and gradient by ref missed the cache (%g hits)", hits);
    free(req);
    buf_free(&m0);
    buf_free(&m1);

    /* extended: a node after the stored ones, and a loss naming it */
    req = ref_request(ref, ",\"nodes\":[{\"name\":\"l2\",\"expr\":\"3*loss\"}],\"loss\":\"l2\"");
    http(&r, port, "POST", "/v1/gradient", req, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "extended");
    expect_num(j, "values/l2", 219);
    expect_num(j, "gradients/w/1", 96);
    json_decref(j);
    resp_free(&r);
    free(req);

    /* a stored graph without a loss, given one as an expression (the node "loss") */
    static const char nolo[] = "{\"inputs\":{\"x\":[2]},\"params\":{\"w\":[2]},\"nodes\":[{\"name\":\"y\","
                               "\"op\":\"mul\",\"inputs\":[\"x\",\"w\"]}]}";
    char ref3[128];
    assert_int_equal(upload(port, nolo, strlen(nolo), JSON_CT, ref3, sizeof ref3), 201);
    req = ref_request(ref3, ",\"loss\":\"sum(y*y)\"");
    http(&r, port, "POST", "/v1/gradient", req, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "loss expression");
    expect_num(j, "values/loss", 73);
    expect_num(j, "gradients/w/0", 6);
    json_decref(j);
    resp_free(&r);
    free(req);
    /* ... which may not take the name of a stored node */
    req = ref_request(ref, ",\"loss\":\"3*loss\"");
    http(&r, port, "POST", "/v1/gradient", req, NULL, 10000);
    expect_error(&r, 422, "duplicate_name");
    resp_free(&r);
    free(req);

    /* an unknown ref on a computing route */
    req = ref_request("sha256:1111111111111111111111111111111111111111111111111111111111111111", "");
    http(&r, port, "POST", "/v1/gradient", req, NULL, 10000);
    expect_error(&r, 404, "graph_not_found");
    resp_free(&r);
    free(req);
    free(g);
}

static void test_onnx_by_ref(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    char ref[128];
    assert_int_equal(upload(port, (const char *)model_onnx, model_onnx_len, ONNX_CT, ref, sizeof ref), 201);
    char path[160];
    snprintf(path, sizeof path, "/v1/graphs/%s", ref);
    resp r;
    http(&r, port, "GET", path, NULL, NULL, 10000);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "onnx summary");
    expect_str(j, "format", "onnx");
    expect_num(j, "inputs/input.1/0", -1);
    expect_num(j, "inputs/input.1/1", 3);
    expect_num(j, "params/fc.weight/0", 3);
    expect_num(j, "ops/MatMul", 1);
    expect_num(j, "ops/Add", 1);
    json_decref(j);
    resp_free(&r);
    buf b = {0};
    buf_printf(&b, "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"input.1\":[[1,1,1]]}}", ref);
    http(&r, port, "POST", "/v1/forward", b.p, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "onnx forward");
    expect_num(j, "values/logits/0/0", 9.5);
    expect_num(j, "values/logits/0/1", 11.5);
    json_decref(j);
    resp_free(&r);
    buf_free(&b);
    /* loss = sum(logits^2): d/db = 2 logits = [19, 23] */
    buf_printf(&b, "{\"graph\":{\"ref\":\"%s\",\"loss\":\"sum(logits*logits)\"},\"inputs\":{\"input.1\":[[1,1,1]]}}",
               ref);
    http(&r, port, "POST", "/v1/gradient", b.p, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "onnx gradient");
    expect_num(j, "gradients/fc.bias/0", 19);
    expect_num(j, "gradients/fc.bias/1", 23);
    expect_num(j, "gradients/fc.weight/2/1", 23);
    json_decref(j);
    resp_free(&r);
    buf_free(&b);
    /* The store reads the model once for all its requests; a step that
     * exports the updated model leaves the stored one as it was. The
     * bias is the logits at a zero input. */
    buf_printf(&b, "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"input.1\":[[0,0,0]]}}", ref);
    http(&r, port, "POST", "/v1/forward", b.p, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "onnx forward at 0");
    double b0 = jnum(j, "values/logits/0/0"), b1 = jnum(j, "values/logits/0/1");
    json_decref(j);
    resp_free(&r);
    buf_free(&b);
    buf_printf(&b, "{\"graph\":{\"ref\":\"%s\",\"loss\":\"sum(logits*logits)\"},\"inputs\":{\"input.1\":[[1,1,1]]},"
               "\"optimizer\":{\"name\":\"sgd\",\"lr\":0.5},\"export\":\"onnx\"}", ref);
    http(&r, port, "POST", "/v1/step", b.p, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "onnx step with export");
    expect_num(j, "params/fc.bias/0", b0 - 0.5 * 19);
    expect_num(j, "params/fc.bias/1", b1 - 0.5 * 23);
    assert_true(json_is_string(json_object_get(j, "onnx")));
    json_decref(j);
    resp_free(&r);
    buf_free(&b);
    for (int k = 0; k < 2; k++) {
        buf_printf(&b, "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"input.1\":[[1,1,1]]}}", ref);
        http(&r, port, "POST", "/v1/forward", b.p, NULL, 10000);
        expect_status(&r, 200);
        j = expect_json(&r, "onnx forward after the step");
        expect_num(j, "values/logits/0/0", 9.5);
        expect_num(j, "values/logits/0/1", 11.5);
        json_decref(j);
        resp_free(&r);
        buf_free(&b);
    }
}

static const cfg CFG_SMALL = {"graph-store-small", {"--workers", "1", "--max-body-bytes", "4096", NULL}};

static void test_bad_bodies(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    char ref[128];
    static const unsigned char junk[] = {0x3a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01}; /* graph field of 4 GiB, 1 byte */
    assert_int_equal(upload(port, (const char *)junk, sizeof junk, ONNX_CT, ref, sizeof ref), 400);
    assert_int_equal(upload(port, "{\"nodes\": [", 11, JSON_CT, ref, sizeof ref), 400);
    assert_int_equal(upload(port, "{\"nodes\": [], \"bogus\": 1}", 25, JSON_CT, ref, sizeof ref), 400);
    assert_int_equal(upload(port, "{\"nodes\":[{\"name\":\"y\",\"op\":\"frobnicate\",\"inputs\":[\"x\"]}]}", 57,
                            JSON_CT, ref, sizeof ref),
                     422);
    static const char *const text[] = {"Content-Type: text/plain", NULL};
    assert_int_equal(upload(port, "{}", 2, text, ref, sizeof ref), 415);
    /* over --max-body-bytes: 413 from the headers, before the body is read */
    int fd = raw_connect(port);
    assert_true(fd >= 0);
    raw_sends(fd, "POST /v1/graphs HTTP/1.1\r\nHost: x\r\nContent-Type: application/onnx\r\nContent-Length: 100000\r\n\r\n");
    buf b = {0};
    assert_int_equal(raw_read_response(fd, &b, 5000), 1);
    assert_int_equal(raw_status(&b), 413);
    buf_free(&b);
    close(fd);
    /* a model over the request byte budget is refused too (--max-total-bytes is the daemon's) */
}

/* Each padded graph takes about 520 bytes of the store: two fit in 1200. */
static const cfg CFG_LRU = {"graph-store-lru", {"--workers", "1", "--graph-store-bytes", "1200", NULL}};

static void test_lru_eviction(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    char a[128], b[128], c[128];
    char *ga = graph_body(1), *gb = graph_body(2), *gc = graph_body(3);
    assert_int_equal(upload(port, ga, strlen(ga), JSON_CT, a, sizeof a), 201);
    assert_int_equal(upload(port, gb, strlen(gb), JSON_CT, b, sizeof b), 201);
    assert_int_equal(get_graph(port, a), 200); /* a is now the most recent */
    assert_int_equal(upload(port, gc, strlen(gc), JSON_CT, c, sizeof c), 201);
    assert_int_equal(get_graph(port, b), 404); /* the least recently used went */
    assert_int_equal(get_graph(port, a), 200);
    assert_int_equal(get_graph(port, c), 200);
    buf m = {0};
    get_metrics(port, &m);
    if (metric(&m, "gradd_graph_store_entries") != 2 || metric(&m, "gradd_graph_store_bytes") > 1200)
        fail_msg("the store holds %g graphs in %g bytes", metric(&m, "gradd_graph_store_entries"),
                 metric(&m, "gradd_graph_store_bytes"));
    buf_free(&m);
    /* a graph larger than the whole store: 413, nothing evicted */
    char *big = graph_body(2000), ref[128];
    assert_int_equal(upload(port, big, strlen(big), JSON_CT, ref, sizeof ref), 413);
    assert_int_equal(get_graph(port, a), 200);
    free(big);
    free(ga);
    free(gb);
    free(gc);
}

/* A restarted replica keeps its graphs; evicted ones leave the directory;
 * files that are not what their name says are not loaded. */
static void test_persistence_across_restart(void **state) {
    (void)state;
    char dir[] = "/tmp/gradd-graph-dir-XXXXXX";
    assert_non_null(mkdtemp(dir));
    const char *flags[] = {"--workers", "1", "--graph-dir", dir, "--graph-store-bytes", "1200", NULL};
    gdaemon d;
    assert_int_equal(daemon_start(&d, "graph-store-dir", flags), 0);
    char a[128], b[128], c[128];
    char *ga = graph_body(1), *gb = graph_body(2), *gc = graph_body(3);
    assert_int_equal(upload(d.port, ga, strlen(ga), JSON_CT, a, sizeof a), 201);
    assert_int_equal(upload(d.port, gb, strlen(gb), JSON_CT, b, sizeof b), 201);
    assert_int_equal(upload(d.port, gc, strlen(gc), JSON_CT, c, sizeof c), 201); /* a goes */
    assert_int_equal(daemon_stop(&d, 10000), 0);
    char path[512];
    snprintf(path, sizeof path, "%s/%s.json", dir, a + 7);
    assert_int_equal(access(path, F_OK), -1); /* evicted: its file removed */
    /* a file whose bytes are not its name's hash, and a symlink: skipped */
    snprintf(path, sizeof path, "%s/%064d.json", dir, 0);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{}", 2), 2);
    close(fd);
    snprintf(path, sizeof path, "%s/%s.json", dir, a + 7);
    assert_int_equal(symlink("/etc/passwd", path), 0);

    assert_int_equal(daemon_start(&d, "graph-store-dir", flags), 0);
    assert_int_equal(get_graph(d.port, b), 200);
    assert_int_equal(get_graph(d.port, c), 200);
    assert_int_equal(get_graph(d.port, a), 404);
    char *req = ref_request(c, "");
    resp r;
    http(&r, d.port, "POST", "/v1/gradient", req, NULL, 10000);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "gradient after restart");
    expect_num(j, "gradients/w/1", 32);
    json_decref(j);
    resp_free(&r);
    free(req);
    assert_int_equal(daemon_stop(&d, 10000), 0);
    free(ga);
    free(gb);
    free(gc);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* The C client (clients/c): gradd_upload_graph, and the re-upload on
 * graph_not_found, against two daemons where only the first has the graph. */
static void test_c_client_two_replicas(void **state) {
    fixture *f = *state;
    const char *flags[] = {"--workers", "1", NULL};
    gdaemon other;
    assert_int_equal(daemon_start(&other, "graph-store-other", flags), 0);
    char *g = graph_body(7), ref[72], ref2[72];
    gradd_client *one = client_for(f->d.port, 10000), *two = client_for(other.port, 10000);
    resp r;
    assert_int_equal(gradd_upload_graph(one, g, strlen(g), "application/json", ref, &r), 0);
    expect_status(&r, 201);
    resp_free(&r);
    assert_int_equal(get_graph(other.port, ref), 404);
    char *req = ref_request(ref, "");
    /* a client that does not know the graph gets the 404 */
    assert_int_equal(gradd_gradient(two, req, &r), 0);
    expect_error(&r, 404, "graph_not_found");
    resp_free(&r);
    /* one that does uploads it and sends again, by itself */
    assert_int_equal(gradd_remember_graph(two, ref, g, strlen(g), "application/json"), 0);
    assert_int_equal(gradd_gradient(two, req, &r), 0);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "gradient after the re-upload");
    expect_num(j, "gradients/w/0", 6);
    expect_num(j, "gradients/w/1", 32);
    json_decref(j);
    resp_free(&r);
    assert_int_equal(get_graph(other.port, ref), 200);
    /* uploading again: 200 and the same ref */
    assert_int_equal(gradd_upload_graph(two, g, strlen(g), NULL, ref2, &r), 0);
    expect_status(&r, 200);
    assert_string_equal(ref, ref2);
    resp_free(&r);
    gradd_client_free(one);
    gradd_client_free(two);
    free(req);
    free(g);
    assert_int_equal(daemon_stop(&other, 10000), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_upload_get_and_use, CFG_STORE),
        T(test_onnx_by_ref, CFG_STORE),
        T(test_bad_bodies, CFG_SMALL),
        T(test_lru_eviction, CFG_LRU),
        cmocka_unit_test(test_persistence_across_restart),
        T(test_c_client_two_replicas, CFG_STORE),
    };
    return HARNESS_MAIN("graph_store", tests);
}

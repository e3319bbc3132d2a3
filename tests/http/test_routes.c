/* test_routes.c -- every route of gradd serve over HTTP: 200s, errors, X-Request-ID,
 * health, /openapi.json, the `gradd health` command and the binary tensor
 * extension. */
#define _GNU_SOURCE
#include "harness.h"
#include "api.h"
#include "spec.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ====================================================================== */
/* every route                                                             */

static const cfg CFG_BASIC = {"basic", {"--workers", "2", NULL}};

static void test_routes(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    resp r;
    json_t *j;

    /* forward and gradient: seed000's e = (a+b)(b+1) */
    http(&r, port, "POST", "/v1/forward", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    expect_header_has(&r, "Content-Type", "application/json");
    j = expect_json(&r, "forward");
    expect_num(j, "values/f", 6);
    json_decref(j);
    resp_free(&r);

    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "gradient");
    expect_num(j, "values/f", 6);
    expect_num(j, "gradients/a", 2);
    expect_num(j, "gradients/b", 5);
    json_decref(j);
    resp_free(&r);

    /* step: step-sgd-one and step-batches */
    http(&r, port, "POST", "/v1/step",
         "{\"graph\": \"(w*x - y)^2\", \"params\": {\"w\": 1}, \"inputs\": {\"x\": 2, \"y\": 3},"
         " \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.25}}",
         NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "step");
    expect_num(j, "params/w", 2);
    expect_num(j, "losses/0", 1);
    assert_true(json_is_object(jpath(j, "state")));
    json_decref(j);
    resp_free(&r);

    http(&r, port, "POST", "/v1/step",
         "{\"graph\": \"(w*x - y)^2\", \"params\": {\"w\": 1}, \"inputs\": {\"y\": 3},"
         " \"batches\": [{\"x\": 2}, {\"x\": 1}], \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.25},"
         " \"return_gradients\": true}",
         NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "step batches");
    expect_num(j, "params/w", 2.5);
    expect_num(j, "losses/0", 1);
    expect_num(j, "losses/1", 1);
    expect_num(j, "gradients/w", -2);
    json_decref(j);
    resp_free(&r);

    /* jvp and hvp */
    http(&r, port, "POST", "/v1/jvp",
         "{\"graph\": \"x*y + sin(x)\", \"inputs\": {\"x\": 0, \"y\": 4.2}, \"tangents\": {\"x\": 1}}", NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "jvp");
    expect_num(j, "values/f", 0);
    expect_num(j, "tangents/f", 5.2);
    json_decref(j);
    resp_free(&r);

    http(&r, port, "POST", "/v1/hvp", "{\"graph\": \"x*x*x\", \"params\": {\"x\": 2}, \"vector\": {\"x\": 1}}", NULL,
         10000);
    expect_status(&r, 200);
    j = expect_json(&r, "hvp");
    expect_num(j, "values/f", 8);
    expect_num(j, "hvp/x", 12);
    json_decref(j);
    resp_free(&r);

    /* check: x*y at (3, 4) */
    http(&r, port, "POST", "/v1/check", "{\"graph\": \"x*y\", \"inputs\": {\"x\": 3, \"y\": 4}}", NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "check");
    expect_num(j, "values/f", 12);
    expect_num(j, "check/x/elements", 1);
    expect_num(j, "check/y/elements", 1);
    assert_true(jnum(j, "check/x/max_abs_error") <= 1e-6);
    assert_true(jnum(j, "check/y/max_abs_error") <= 1e-6);
    json_decref(j);
    resp_free(&r);

    /* gradient-graph, posted back to forward with the gradient nodes as
     * outputs, gives the gradient */
    http(&r, port, "POST", "/v1/gradient-graph", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "gradient-graph");
    const char *ga = jstr(j, "gradients/a"), *gb = jstr(j, "gradients/b");
    assert_non_null(ga);
    assert_non_null(gb);
    assert_true(json_is_array(jpath(j, "graph/nodes")));
    json_t *req = json_pack("{s:O,s:{s:i,s:i},s:[s,s]}", "graph", json_object_get(j, "graph"), "inputs", "a", 2, "b",
                            1, "outputs", ga, gb);
    assert_non_null(req);
    char *body = json_dumps(req, JSON_COMPACT);
    resp r2;
    http(&r2, port, "POST", "/v1/forward", body, NULL, 10000);
    expect_status(&r2, 200);
    json_t *fw = expect_json(&r2, "forward of the gradient graph");
    char p[160];
    snprintf(p, sizeof p, "values/%s", ga);
    expect_num(fw, p, 2);
    snprintf(p, sizeof p, "values/%s", gb);
    expect_num(fw, p, 5);
    json_decref(fw);
    resp_free(&r2);
    free(body);
    json_decref(req);
    json_decref(j);
    resp_free(&r);

    /* GET /v1/ops: the catalogue */
    http(&r, port, "GET", "/v1/ops", NULL, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "ops");
    const json_t *ops = json_object_get(j, "ops");
    assert_true(json_is_array(ops));
    assert_true(json_array_size(ops) >= 10);
    int matmul = 0;
    for (size_t i = 0; i < json_array_size(ops); i++)
        matmul |= !strcmp(jstr(json_array_get(ops, i), "name") ? jstr(json_array_get(ops, i), "name") : "", "matmul");
    assert_true(matmul);
    size_t nops = json_array_size(ops);
    json_decref(j);
    resp_free(&r);
    printf("# routes: forward, gradient, step x2, jvp, hvp, check, gradient-graph (posted back), ops (%zu ops): all 200\n",
           nops);
}

/* ====================================================================== */
/* 400 404 405 415 422                                                     */

static void test_errors(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    resp r;
    char v[256];

    /* 400: malformed JSON (err-json-truncated) */
    http(&r, port, "POST", "/v1/forward", "{\"graph\": \"x*2\", \"inputs\": {\"x\": [1, 2", NULL, 10000);
    expect_status(&r, 400);
    json_t *j = expect_json(&r, "400");
    assert_non_null(jstr(j, "error"));
    assert_non_null(jstr(j, "code"));
    json_decref(j);
    resp_free(&r);

    /* 404: an unknown /v1 route, an unknown path */
    http(&r, port, "POST", "/v1/nope", SUM_PRODUCT, NULL, 10000);
    expect_error(&r, 404, "unknown_route");
    resp_free(&r);
    http(&r, port, "GET", "/nope/nothing-here", NULL, NULL, 10000);
    expect_status(&r, 404);
    resp_free(&r);

    /* 405 with Allow */
    http(&r, port, "GET", "/v1/gradient", NULL, NULL, 10000);
    expect_error(&r, 405, "method_not_allowed");
    expect_header_has(&r, "Allow", "POST");
    resp_free(&r);
    http(&r, port, "POST", "/metrics", "", NULL, 10000);
    expect_status(&r, 405);
    expect_header_has(&r, "Allow", "GET");
    resp_free(&r);

    /* 415 */
    const char *plain[] = {"Content-Type: text/plain", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, plain, 10000);
    expect_error(&r, 415, "unsupported_media_type");
    resp_free(&r);
    const char *charset[] = {"Content-Type: application/json; charset=utf-8", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, charset, 10000);
    expect_status(&r, 200);
    resp_free(&r);

    /* 422: err-shape-mismatch-matmul */
    http(&r, port, "POST", "/v1/forward",
         "{\"graph\": {\"inputs\": {\"a\": [2, 3], \"b\": [2, 3]},"
         " \"nodes\": [{\"name\": \"f\", \"op\": \"matmul\", \"inputs\": [\"a\", \"b\"]}], \"loss\": \"f\"},"
         " \"inputs\": {\"a\": [[1, 2, 3], [4, 5, 6]], \"b\": [[1, 2, 3], [4, 5, 6]]}}",
         NULL, 10000);
    expect_error(&r, 422, "shape_mismatch");
    j = expect_json(&r, "422");
    expect_str(j, "path", "/graph/nodes/0/inputs/1");
    json_decref(j);
    resp_free(&r);

    /* /v1/ops takes GET: its 405 must say so */
    http(&r, port, "POST", "/v1/ops", "{}", NULL, 10000);
    expect_status(&r, 405);
    hdr(&r, "Allow", v, sizeof v);
    resp_free(&r);

    /* and the daemon is still fine */
    assert_int_equal(http_status(port, "/healthz", 10000), 200);
    printf("# errors: 400, 404 x2, 405 x3, 415, 422; POST /v1/ops answered Allow: %s\n", v);
    if (!strstr(v, "GET") || strstr(v, "POST"))
        fail_msg("POST /v1/ops: 405 with Allow: %s (ops takes GET, not POST)", v);
}

/* ====================================================================== */
/* X-Request-ID, health routes, /openapi.json                              */

static void test_request_id_health_openapi(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    resp r;
    char id1[128], id2[128];

    const char *given[] = {"X-Request-ID: test-req-42", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, given, 10000);
    expect_status(&r, 200);
    assert_int_equal(hdr(&r, "X-Request-ID", id1, sizeof id1), 1);
    assert_string_equal(id1, "test-req-42");
    resp_free(&r);

    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    assert_int_equal(hdr(&r, "X-Request-ID", id1, sizeof id1), 1);
    resp_free(&r);
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    assert_int_equal(hdr(&r, "X-Request-ID", id2, sizeof id2), 1);
    resp_free(&r);
    assert_true(strlen(id1) > 0);
    assert_true(strlen(id2) > 0);
    if (!strcmp(id1, id2)) fail_msg("two requests got the same generated X-Request-ID %s", id1);
    /* errors carry one too */
    http(&r, port, "POST", "/v1/nope", SUM_PRODUCT, given, 10000);
    expect_status(&r, 404);
    expect_header_has(&r, "X-Request-ID", "test-req-42");
    resp_free(&r);

    /* health */
    http(&r, port, "GET", "/healthz", NULL, NULL, 10000);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "/healthz");
    expect_str(j, "status", "alive");
    json_decref(j);
    resp_free(&r);
    http(&r, port, "GET", "/readyz", NULL, NULL, 10000);
    expect_status(&r, 200);
    j = expect_json(&r, "/readyz");
    expect_str(j, "status", "ready");
    json_decref(j);
    resp_free(&r);
    assert_int_equal(http_status(port, "/v2/health/live", 10000), 200);
    assert_int_equal(http_status(port, "/v2/health/ready", 10000), 200);

    /* /openapi.json (the daemon runs from the repo root: api/openapi.yaml) */
    http(&r, port, "GET", "/openapi.json", NULL, NULL, 10000);
    expect_status(&r, 200);
    expect_header_has(&r, "Content-Type", "application/json");
    j = expect_json(&r, "/openapi.json");
    const char *ver = jstr(j, "openapi");
    if (!ver || strncmp(ver, "3.1", 3)) fail_msg("openapi is \"%s\", want 3.1.x", ver ? ver : "(none)");
    assert_true(json_is_object(json_object_get(j, "paths")));
    json_decref(j);
    resp_free(&r);
    printf("# request id: given one echoed, generated %s != %s; health x4 200; openapi %s\n", id1, id2, "3.1");
}

/* ====================================================================== */
/* gradd health                                                            */

/* Exit status of `gradd health URL` for path on port; with path NULL,
 * `gradd health` with no URL and GRADD_PORT=port (its default URL). */
static int run_health(int port, const char *path) {
    char url[128], env_port[16];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path ? path : "");
    snprintf(env_port, sizeof env_port, "%d", port);
    char *argv[] = {(char *)gradd_bin(), "health", path ? url : NULL, NULL};
    if (!path) setenv("GRADD_PORT", env_port, 1);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    unsetenv("GRADD_PORT");
    if (rc != 0) return -1;
    gdaemon h = {.name = "health", .pid = pid, .out = -1};
    if (!daemon_wait(&h, 15000)) {
        kill(pid, SIGKILL);
        daemon_wait(&h, 5000);
        return -2;
    }
    return WIFEXITED(h.status) ? WEXITSTATUS(h.status) : -3;
}

static void test_health_cli(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    int up = run_health(port, "/readyz");
    int live = run_health(port, "/healthz");
    int missing = run_health(port, "/no-such-path");
    int by_env = run_health(port, NULL);
    assert_int_equal(by_env, 0);
    assert_int_equal(up, 0);
    assert_int_equal(live, 0);
    assert_int_equal(missing, 1);
    int st = daemon_stop(&f->d, 20000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int gone = run_health(port, "/readyz");
    assert_int_equal(gone, 1);
    printf("# gradd health: %d while serving (/healthz %d, a 404 path %d, no URL with GRADD_PORT %d), %d once the "
           "daemon is gone\n",
           up, live, missing, by_env, gone);
}

/* Triton's binary tensor extension over HTTP, both ways: the JSON header
 * (Inference-Header-Content-Length long), then raw little-endian float64s;
 * the answer comes back the same way. And a wrong header length is a 400. */
static void test_binary_extension(void **state) {
    fixture *f = *state;
    const char *json = "{\"graph\": \"x*2\", \"inputs\": {\"x\": {\"shape\": [3], \"parameters\": "
                       "{\"binary_data_size\": 24}}}, \"binary_data_output\": true}";
    double x[3] = {1, 2.5, -4};
    size_t jl = strlen(json);
    for (int bad = 0; bad < 2; bad++) {
        buf req = {0}, got = {0};
        buf_printf(&req,
                   "POST /v1/forward HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                   "Inference-Header-Content-Length: %zu\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   bad ? jl + 100 : jl, jl + sizeof x);
        buf_put(&req, json, jl);
        buf_put(&req, x, sizeof x);
        int fd = raw_connect(f->d.port);
        assert_true(fd >= 0);
        assert_int_equal(raw_send(fd, req.p, req.len), 0);
        raw_read_all(fd, &got, 10000);
        close(fd);
        assert_true(got.len > 12);
        const char *end = memmem(got.p, got.len, "\r\n\r\n", 4);
        assert_non_null(end);
        if (bad) {
            assert_int_equal(raw_status(&got), 400);
        } else {
            assert_int_equal(raw_status(&got), 200);
            const char *h = strcasestr(got.p, "\r\nInference-Header-Content-Length:");
            assert_true(h && h < end);
            size_t hl = (size_t)strtoul(h + 35, NULL, 10), body = (size_t)(end + 4 - got.p);
            assert_int_equal(got.len - body - hl, 24); /* three float64s after the JSON */
            assert_non_null(memmem(got.p + body, hl, "\"binary_data_size\":24", 21));
            double y[3];
            memcpy(y, got.p + body + hl, sizeof y);
            assert_true(y[0] == 2 && y[1] == 5 && y[2] == -8);
            assert_non_null(strcasestr(got.p, "Content-Type: application/octet-stream"));
        }
        buf_free(&req);
        buf_free(&got);
    }
    printf("# binary extension: 3 float64s in, 3 out; a header length past the body is 400\n");
}

/* A binary step: the daemon decodes float64 params where they lie in the
 * body and answers them from there once updated (the JSON header is
 * padded 0 to 7 bytes, so the binary section falls on every offset the
 * daemon must align), while a param sent as float32 is converted and
 * answered from a buffer of its own. The answer's params, in its own
 * order, are each exactly SGD's: w - 0.25 x, v - 0.25 (2 v), u - 0.25. */
static void test_binary_step_in_place(void **state) {
    fixture *f = *state;
    const char *json = "{\"graph\": \"sum(w * x) + sum(v * v) + sum(u)\", \"inputs\": {\"x\": {\"shape\": [3], "
                       "\"parameters\": {\"binary_data_size\": 24}}}, \"params\": {\"v\": {\"shape\": [2], "
                       "\"parameters\": {\"binary_data_size\": 16}}, \"u\": {\"shape\": [2], \"datatype\": \"FP32\", "
                       "\"parameters\": {\"binary_data_size\": 8}}, \"w\": {\"shape\": [3], \"parameters\": "
                       "{\"binary_data_size\": 24}}}, \"optimizer\": {\"name\": \"sgd\", \"lr\": 0.25}, "
                       "\"binary_data_output\": true}";
    const double x[3] = {1, 2, -4}, v[2] = {2, -6}, w[3] = {0.5, -1, 2};
    const float u[2] = {1.5f, -2};
    struct {
        const char *name;
        int n;
        double want[3];
    } want[] = {{"w", 3, {0.25, -1.5, 3}}, {"v", 2, {1, -3}}, {"u", 2, {1.25, -2.25}}};
    for (int pad = 0; pad < 8; pad++) {
        buf req = {0}, got = {0};
        size_t jl = strlen(json) + (size_t)pad, bl = sizeof x + sizeof v + sizeof u + sizeof w;
        buf_printf(&req,
                   "POST /v1/step HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
                   "Inference-Header-Content-Length: %zu\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
                   jl, jl + bl);
        buf_put(&req, json, strlen(json));
        buf_put(&req, "        ", (size_t)pad);
        buf_put(&req, x, sizeof x);
        buf_put(&req, v, sizeof v);
        buf_put(&req, u, sizeof u);
        buf_put(&req, w, sizeof w);
        int fd = raw_connect(f->d.port);
        assert_true(fd >= 0);
        assert_int_equal(raw_send(fd, req.p, req.len), 0);
        raw_read_all(fd, &got, 10000);
        close(fd);
        const char *end = got.len ? memmem(got.p, got.len, "\r\n\r\n", 4) : NULL;
        assert_non_null(end);
        assert_int_equal(raw_status(&got), 200);
        const char *h = strcasestr(got.p, "\r\nInference-Header-Content-Length:");
        assert_true(h && h < end);
        size_t hl = (size_t)strtoul(h + 35, NULL, 10), body = (size_t)(end + 4 - got.p);
        assert_true(body + hl <= got.len);
        json_t *ans = json_loadb(got.p + body, hl, 0, NULL);
        const char *key;
        json_t *val;
        size_t at = body + hl;
        int seen = 0;
        json_object_foreach(json_object_get(ans, "params"), key, val) { /* in the answer's order */
            size_t size = (size_t)json_integer_value(json_object_get(json_object_get(val, "parameters"),
                                                                     "binary_data_size"));
            for (int k = 0; k < 3; k++) {
                if (strcmp(key, want[k].name)) continue;
                seen++;
                if (size != (size_t)want[k].n * sizeof(double) || at + size > got.len)
                    fail_msg("pad %d: %s has %zu bytes in the answer, want %d float64s", pad, key, size, want[k].n);
                for (int i = 0; i < want[k].n; i++) {
                    double y;
                    memcpy(&y, got.p + at + (size_t)i * sizeof y, sizeof y);
                    if (y != want[k].want[i])
                        fail_msg("pad %d: %s[%d] is %.17g after the step, want %.17g", pad, key, i, y, want[k].want[i]);
                }
            }
            at += size;
        }
        if (seen != 3 || at != got.len) fail_msg("pad %d: %d of the 3 params, %zu of %zu bytes", pad, seen, at, got.len);
        json_decref(ans);
        buf_free(&req);
        buf_free(&got);
    }
    printf("# binary step: params decoded and answered in place at 8 header lengths, a float32 one converted\n");
}

/* ====================================================================== */
/* the route specs, served and counted                                     */

/* Every route spec (api/spec.c) is served at /v1/<name> with its method
 * (the other method is 405), and counted under its own metrics label: a
 * route the metrics did not know would be counted as "other". */
static void test_every_spec_is_served_and_counted(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    resp r;
    int bad = 0;
    for (int i = 0; i < gd_route_count(); i++) {
        const gd_route_spec *s = gd_route_spec_at(i);
        char path[64];
        snprintf(path, sizeof path, "/v1/%s", s->name);
        int post = !strcmp(s->method, "POST");
        int want = post || strchr(s->name, '{') ? 400 : 200; /* {} lacks its graph; "{ref}" is no graph ref */
        http(&r, port, s->method, path, post ? "{}" : NULL, NULL, 10000);
        if (r.status != want) {
            printf("# %s %s: %ld\n", s->method, path, r.status);
            bad++;
        }
        resp_free(&r);
        http(&r, port, post ? "GET" : "POST", path, post ? NULL : "{}", NULL, 10000);
        if (r.status != 405) {
            printf("# %s %s with the other method: %ld, not 405\n", s->method, path, r.status);
            bad++;
        }
        resp_free(&r);
    }
    http(&r, port, "GET", "/metrics", NULL, NULL, 10000);
    expect_status(&r, 200);
    for (int i = 0; i < gd_route_count(); i++) {
        const gd_route_spec *s = gd_route_spec_at(i);
        char want[160];
        snprintf(want, sizeof want, "gradd_requests_total{route=\"%s\",status=\"%s\"} 1\n", s->name,
                 !strcmp(s->method, "POST") || strchr(s->name, '{') ? "400" : "200");
        if (!strstr(r.body, want)) {
            printf("# /metrics lacks %s", want);
            bad++;
        }
    }
    resp_free(&r);
    printf("# %d route specs: each served with its method, 405 with the other, counted under its own label\n",
           gd_route_count());
    assert_int_equal(bad, 0);
}

/* ====================================================================== */

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_routes, CFG_BASIC),
        T(test_errors, CFG_BASIC),
        T(test_request_id_health_openapi, CFG_BASIC),
        T(test_health_cli, CFG_BASIC),
        T(test_binary_extension, CFG_BASIC),
        T(test_binary_step_in_place, CFG_BASIC),
        T(test_every_spec_is_served_and_counted, CFG_BASIC),
    };
    return HARNESS_MAIN("test_routes", tests);
}

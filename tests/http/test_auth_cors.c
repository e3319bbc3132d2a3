/* test_auth_cors.c -- API keys (bearer auth) and CORS. */
#define _GNU_SOURCE
#include "harness.h"

/* ====================================================================== */
/* API keys and CORS                                                       */

static const cfg CFG_AUTH = {"auth", {"--workers", "2", "--api-keys", "k1,k2", "--cors-origins", "https://a.example",
                                      NULL}};

static void test_auth(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    resp r;

    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_error(&r, 401, "unauthorized");
    expect_header_has(&r, "WWW-Authenticate", "Bearer");
    resp_free(&r);
    const char *wrong[][2] = {{"Authorization: Bearer nope", NULL},
                              {"Authorization: Bearer k", NULL},
                              {"Authorization: Bearer k1x", NULL},
                              {"Authorization: Bearer k1,k2", NULL},
                              {"Authorization: Basic k1", NULL},
                              {"Authorization: k1", NULL}};
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, wrong[i], 10000);
        if (r.status != 401) fail_msg("%s: status %ld, want 401", wrong[i][0], r.status);
        resp_free(&r);
    }
    http(&r, port, "GET", "/v1/ops", NULL, NULL, 10000);
    expect_status(&r, 401);
    resp_free(&r);

    /* open without a key */
    assert_int_equal(http_status(port, "/healthz", 10000), 200);
    assert_int_equal(http_status(port, "/readyz", 10000), 200);
    assert_int_equal(http_status(port, "/metrics", 10000), 200);
    assert_int_equal(http_status(port, "/v2/health/live", 10000), 200);
    assert_int_equal(http_status(port, "/v2/health/ready", 10000), 200);

    /* the right keys */
    const char *k1[] = {"Authorization: Bearer k1", NULL}, *k2[] = {"Authorization: Bearer k2", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, k1, 10000);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "k1");
    expect_num(j, "gradients/a", 2);
    expect_num(j, "gradients/b", 5);
    json_decref(j);
    resp_free(&r);
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, k2, 10000);
    expect_status(&r, 200);
    resp_free(&r);
    http(&r, port, "GET", "/v1/ops", NULL, k2, 10000);
    expect_status(&r, 200);
    resp_free(&r);

    buf m = {0};
    assert_true(get_metrics(port, &m));
    double unauth = metric(&m, "gradd_rejected_total{reason=\"unauthorized\"}");
    buf_free(&m);
    assert_true(unauth == 8);
    printf("# auth: 8 refused with 401 (counted %g), health/metrics open, k1 and k2 accepted\n", unauth);
}

static void test_cors(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    resp r;
    char v[512];

    /* preflight from the configured origin: no key needed */
    const char *pre[] = {"Origin: https://a.example", "Access-Control-Request-Method: POST",
                         "Access-Control-Request-Headers: content-type, authorization, x-request-id", NULL};
    http(&r, port, "OPTIONS", "/v1/gradient", NULL, pre, 10000);
    if (!resp_ok(&r) || (r.status != 204 && r.status != 200))
        fail_msg("preflight: status %ld (%s)", r.status, r.error);
    assert_int_equal(hdr(&r, "Access-Control-Allow-Origin", v, sizeof v), 1);
    assert_string_equal(v, "https://a.example");
    expect_header_has(&r, "Access-Control-Allow-Methods", "POST");
    expect_header_has(&r, "Access-Control-Allow-Methods", "GET");
    expect_header_has(&r, "Access-Control-Allow-Headers", "Content-Type");
    expect_header_has(&r, "Access-Control-Allow-Headers", "Authorization");
    expect_header_has(&r, "Access-Control-Allow-Headers", "X-Request-ID");
    expect_header_has(&r, "Access-Control-Allow-Headers", "Inference-Header-Content-Length");
    expect_header_has(&r, "Vary", "Origin");
    resp_free(&r);

    /* an origin not in the list: no Access-Control-* at all */
    const char *evil[] = {"Origin: https://evil.example", "Access-Control-Request-Method: POST", NULL};
    http(&r, port, "OPTIONS", "/v1/gradient", NULL, evil, 10000);
    assert_true(resp_ok(&r));
    if (has_header_prefix(&r, "Access-Control-"))
        fail_msg("preflight from an unconfigured origin got CORS headers:\n%s", r.headers);
    resp_free(&r);
    const char *evil_post[] = {"Origin: https://evil.example", "Authorization: Bearer k1", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, evil_post, 10000);
    expect_status(&r, 200);
    if (has_header_prefix(&r, "Access-Control-"))
        fail_msg("POST from an unconfigured origin got CORS headers:\n%s", r.headers);
    resp_free(&r);
    /* a near miss is not the origin */
    const char *near[] = {"Origin: https://a.example.evil", "Authorization: Bearer k1", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, near, 10000);
    expect_status(&r, 200);
    assert_false(has_header_prefix(&r, "Access-Control-"));
    resp_free(&r);

    /* a real request from the configured origin */
    const char *good[] = {"Origin: https://a.example", "Authorization: Bearer k1", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, good, 10000);
    expect_status(&r, 200);
    assert_int_equal(hdr(&r, "Access-Control-Allow-Origin", v, sizeof v), 1);
    assert_string_equal(v, "https://a.example");
    expect_header_has(&r, "Access-Control-Expose-Headers", "X-Request-ID");
    expect_header_has(&r, "Vary", "Origin");
    resp_free(&r);
    /* its errors are readable by the page too */
    const char *nokey[] = {"Origin: https://a.example", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, nokey, 10000);
    expect_status(&r, 401);
    expect_header_has(&r, "Access-Control-Allow-Origin", "https://a.example");
    resp_free(&r);
    printf("# cors: preflight allowed for https://a.example, nothing for other origins, POST exposes X-Request-ID\n");
}

/* ====================================================================== */

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_auth, CFG_AUTH),
        T(test_cors, CFG_AUTH),
    };
    return HARNESS_MAIN("test_auth_cors", tests);
}

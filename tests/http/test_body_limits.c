/* test_body_limits.c -- request bodies over raw sockets: 413 before the body,
 * chunked bodies, duplicate Content-Length and CL+TE smuggling, slow clients
 * and the idle timeout. */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <unistd.h>

/* ====================================================================== */
/* 413: before the body; chunked bodies; the exact limit                   */

static const cfg CFG_LIMITS = {"limits", {"--workers", "2", "--max-body-bytes", "1000", "--idle-timeout-s", "2", NULL}};

/* SUM_PRODUCT padded with spaces to exactly n bytes. */
static char *padded_body(size_t n) {
    size_t base = strlen(SUM_PRODUCT);
    char *b = malloc(n + 1);
    if (!b || n < base) abort();
    memcpy(b, SUM_PRODUCT, base - 1);
    memset(b + base - 1, ' ', n - base);
    b[n - 1] = '}';
    b[n] = '\0';
    return b;
}

static void test_body_limit(void **state) {
    fixture *f = *state;
    int port = f->d.port;

    /* A huge Content-Length and ten bytes of body: the 413 must come at
     * once, long before the 2 s idle timeout, and the connection close. */
    int fd = raw_connect(port);
    assert_true(fd >= 0);
    double t0 = now_ms();
    assert_int_equal(raw_sends(fd, "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                   "Content-Length: 100000000\r\n\r\n{\"graph\":"),
                     0);
    buf b = {0};
    int closed = raw_read_all(fd, &b, 5000);
    double ms = now_ms() - t0;
    close(fd);
    if (raw_status(&b) != 413) fail_msg("huge Content-Length: got \"%.200s\", want 413", buf_str(&b));
    if (!strstr(buf_str(&b), "limit_exceeded")) fail_msg("413 without code limit_exceeded: %s", buf_str(&b));
    assert_true(closed);
    if (ms > 1500) fail_msg("the 413 took %.0f ms: it waited for the body or the idle timeout", ms);
    buf_free(&b);

    /* the same with Expect: 100-continue: 413 instead of 100 Continue */
    fd = raw_connect(port);
    assert_true(fd >= 0);
    assert_int_equal(raw_sends(fd, "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                   "Expect: 100-continue\r\nContent-Length: 5000\r\n\r\n"),
                     0);
    raw_read_all(fd, &b, 1500);
    close(fd);
    if (raw_status(&b) != 413) fail_msg("Expect: 100-continue over the limit: got \"%.200s\", want 413", buf_str(&b));
    buf_free(&b);

    /* exactly at the limit: computed; one byte over: 413 */
    char *at = padded_body(1000), *over = padded_body(1001);
    resp r;
    http(&r, port, "POST", "/v1/gradient", at, NULL, 10000);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "1000 bytes");
    expect_num(j, "gradients/b", 5);
    json_decref(j);
    resp_free(&r);
    http(&r, port, "POST", "/v1/gradient", over, NULL, 10000);
    expect_error(&r, 413, "limit_exceeded");
    resp_free(&r);

    /* chunked: within the limit it works, over it 413 */
    fd = raw_connect(port);
    assert_true(fd >= 0);
    buf req = {0};
    size_t half = strlen(SUM_PRODUCT) / 2;
    buf_printf(&req,
               "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n%zx\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
               half, (int)half, SUM_PRODUCT, strlen(SUM_PRODUCT) - half, SUM_PRODUCT + half);
    assert_int_equal(raw_send(fd, req.p, req.len), 0);
    raw_read_all(fd, &b, 10000);
    close(fd);
    if (raw_status(&b) != 200 || !strstr(buf_str(&b), "\"gradients\":{\"a\":2,\"b\":5}"))
        fail_msg("chunked gradient: got \"%.300s\"", buf_str(&b));
    buf_free(&b);
    buf_free(&req);

    fd = raw_connect(port);
    assert_true(fd >= 0);
    buf_printf(&req, "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n");
    char chunk[600];
    memset(chunk, ' ', sizeof chunk);
    for (int i = 0; i < 4; i++) { /* 2400 bytes in 600-byte chunks */
        buf_printf(&req, "%zx\r\n", sizeof chunk);
        buf_put(&req, chunk, sizeof chunk);
        buf_put(&req, "\r\n", 2);
    }
    buf_printf(&req, "0\r\n\r\n");
    assert_int_equal(raw_send(fd, req.p, req.len), 0);
    closed = raw_read_all(fd, &b, 5000);
    close(fd);
    if (raw_status(&b) != 413) fail_msg("chunked body over the limit: got \"%.300s\", want 413", buf_str(&b));
    assert_true(closed);
    buf_free(&b);
    buf_free(&req);

    free(at);
    free(over);
    buf m = {0};
    assert_true(get_metrics(port, &m));
    double tl = metric(&m, "gradd_rejected_total{reason=\"too_large\"}");
    buf_free(&m);
    if (tl != 4) fail_msg("gradd_rejected_total{reason=\"too_large\"} is %g, want 4", tl);
    assert_int_equal(http_status(port, "/healthz", 10000), 200);
    printf("# body limit: 413 in %.1f ms with 10 of 100000000 bytes sent; 100-continue, 1001 bytes, chunked 2400: "
           "413; 1000 bytes and chunked within: 200\n",
           ms);
}

/* ====================================================================== */
/* duplicate Content-Length, CL with TE: 400, closed, nothing smuggled     */

/* Send head + body + a smuggled request; the response must be one 400
 * (when want400) and then the connection closed, the smuggled request
 * unanswered. */
static void smuggle_case(buf *problems, int port, const char *what, const char *head, const char *body, int want400) {
    static const char smuggled[] = "GET /v2/health/live HTTP/1.1\r\nHost: t\r\nX-Request-ID: smuggled\r\n\r\n";
    int fd = raw_connect(port);
    if (fd < 0) {
        note(problems, "%s: cannot connect: %s", what, strerror(errno));
        return;
    }
    buf req = {0}, b = {0};
    buf_printf(&req, "%s%s%s", head, body, smuggled);
    raw_send(fd, req.p, req.len);
    int closed = raw_read_all(fd, &b, 5000);
    close(fd);
    int responses = count_of(buf_str(&b), "HTTP/1.1 ");
    if (want400 && raw_status(&b) != 400)
        note(problems, "%s: status %d, want 400: %.*s", what, raw_status(&b), (int)strcspn(buf_str(&b), "\r\n"),
             buf_str(&b));
    else if (want400 && !strstr(buf_str(&b), "bad_headers"))
        note(problems, "%s: 400 without code bad_headers: %.300s", what, buf_str(&b));
    if (strstr(buf_str(&b), "smuggled") || responses != 1)
        note(problems, "%s: %d responses; the request smuggled after the first Content-Length was answered (X-Request-ID: "
             "smuggled %s)",
             what, responses, strstr(buf_str(&b), "smuggled") ? "echoed" : "not seen");
    if (!closed) note(problems, "%s: the connection stayed open after the response", what);
    buf_free(&req);
    buf_free(&b);
}

static void test_smuggling(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    buf problems = {0};
    char head[512];
    const char *body = SUM_PRODUCT;
    size_t n = strlen(body);
#define POST_HEAD "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
    snprintf(head, sizeof head, POST_HEAD "Content-Length: %zu\r\nContent-Length: %zu\r\n\r\n", n, n);
    smuggle_case(&problems, port, "two equal Content-Length", head, body, 1);
    snprintf(head, sizeof head, POST_HEAD "Content-Length: 5\r\nContent-Length: %zu\r\n\r\n", n + 60);
    smuggle_case(&problems, port, "conflicting Content-Length, small first", head, body, 1);
    snprintf(head, sizeof head, POST_HEAD "Content-Length: %zu\r\nContent-Length: 5\r\n\r\n", n);
    smuggle_case(&problems, port, "conflicting Content-Length, large first", head, body, 1);
    snprintf(head, sizeof head, POST_HEAD "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n\r\n", n);
    smuggle_case(&problems, port, "Content-Length and Transfer-Encoding", head, "0\r\n\r\n", 1);
    snprintf(head, sizeof head, POST_HEAD "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n");
    smuggle_case(&problems, port, "Transfer-Encoding and Content-Length", head, "0\r\n\r\n", 1);

    /* the 400's sentence names the problem and nothing else */
    int fd = raw_connect(port);
    assert_true(fd >= 0);
    snprintf(head, sizeof head, POST_HEAD "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    assert_int_equal(raw_sends(fd, head), 0);
    buf b = {0};
    raw_read_all(fd, &b, 5000);
    close(fd);
    const char *bj = strstr(buf_str(&b), "\r\n\r\n");
    json_error_t je;
    json_t *j = bj ? json_loads(bj + 4, 0, &je) : NULL;
    const char *msg = j ? jstr(j, "error") : NULL;
    const char *te = msg ? strstr(msg, "Transfer-Encoding") : NULL;
    if (!msg) note(&problems, "CL+TE: the 400 body is not a JSON error: %s", buf_str(&b));
    else if (!te || (te[17] >= '0' && te[17] <= '9'))
        note(&problems, "CL+TE: the error sentence is \"%s\" (a stray number after Transfer-Encoding)", msg);
    json_decref(j);
    buf_free(&b);

    /* the same on routes that take no body and on other paths: never a
     * second response from the bytes after the first Content-Length */
    smuggle_case(&problems, port, "GET /v1/ops with two Content-Length",
                 "GET /v1/ops HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 90\r\n\r\n", "xxxxx", 1);
    smuggle_case(&problems, port, "GET /v1/ops with CL and TE",
                 "GET /v1/ops HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
                 "0\r\n\r\n", 1);
    smuggle_case(&problems, port, "GET /healthz with two Content-Length",
                 "GET /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 90\r\n\r\n", "xxxxx", 0);
    smuggle_case(&problems, port, "POST /v1/nope with two Content-Length",
                 "POST /v1/nope HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 90\r\n\r\n", "xxxxx", 0);
    smuggle_case(&problems, port, "OPTIONS with two Content-Length",
                 "OPTIONS /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 90\r\n\r\n",
                 "xxxxx", 0);
#undef POST_HEAD

    buf m = {0};
    assert_true(get_metrics(port, &m));
    double bad = metric(&m, "gradd_rejected_total{reason=\"bad_headers\"}");
    buf_free(&m);
    if (!(bad >= 6)) note(&problems, "gradd_rejected_total{reason=\"bad_headers\"} is %g, want >= 6", bad);
    assert_int_equal(http_status(port, "/healthz", 10000), 200);
    printf("# smuggling: 11 raw cases; %g counted as bad_headers; problems: %s\n", bad,
           problems.len ? "see below" : "none");
    fail_if_problems(&problems);
    buf_free(&problems);
}

/* ====================================================================== */
/* slow clients and the idle timeout                                       */

static void test_slow_clients(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    double t0 = now_ms();
    /* half of the declared body */
    int a = raw_connect(port);
    assert_true(a >= 0);
    assert_int_equal(raw_sends(a, "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 200\r\n\r\n{\"graph\": \"(a+b)*(b+1)\", \"inputs\": {\"a\": 2, "
                                  "\"b\": 1}, \"padding\": \"01234567890123456789012345678901234567"),
                     0);
    /* half of the headers */
    int h = raw_connect(port);
    assert_true(h >= 0);
    assert_int_equal(raw_sends(h, "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Ty"), 0);
    /* nothing at all */
    int z = raw_connect(port);
    assert_true(z >= 0);

    /* meanwhile everyone else is served normally */
    int served = 0;
    double worst = 0;
    for (int i = 0; i < 10; i++) {
        resp r;
        http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
        expect_status(&r, 200);
        json_t *j = expect_json(&r, "during slow clients");
        expect_num(j, "gradients/b", 5);
        json_decref(j);
        if (r.ms > worst) worst = r.ms;
        served++;
        resp_free(&r);
        sleep_ms(50);
    }

    /* each slow connection is closed by the daemon after ~2 s of silence */
    int fds[3] = {a, h, z};
    const char *names[3] = {"half body", "half headers", "silent"};
    double closed_at[3];
    for (int i = 0; i < 3; i++) {
        buf b = {0};
        int closed = raw_read_all(fds[i], &b, (int)(t0 + 10000 - now_ms()));
        closed_at[i] = now_ms() - t0;
        close(fds[i]);
        if (!closed) fail_msg("%s: the daemon kept the connection open for 10 s (--idle-timeout-s 2)", names[i]);
        if (closed_at[i] < 1500)
            fail_msg("%s: closed after only %.0f ms (--idle-timeout-s 2): %s", names[i], closed_at[i], buf_str(&b));
        buf_free(&b);
    }
    assert_true(daemon_alive(&f->d));
    assert_int_equal(http_status(port, "/healthz", 10000), 200);
    printf("# slow clients: half body closed at %.0f ms, half headers at %.0f ms, silent at %.0f ms; "
           "%d others served meanwhile (slowest %.1f ms)\n",
           closed_at[0], closed_at[1], closed_at[2], served, worst);
}

/* ====================================================================== */

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_body_limit, CFG_LIMITS),
        T(test_smuggling, CFG_LIMITS),
        T(test_slow_clients, CFG_LIMITS),
    };
    return HARNESS_MAIN("test_body_limits", tests);
}

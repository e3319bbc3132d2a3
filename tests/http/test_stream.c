/* test_stream.c -- /v1/step's long work over the wire: with Accept:
 * application/x-ndjson (or "stream": true) the answer is chunked NDJSON
 * whose progress lines reach the client while the steps still run, and
 * whose last line holds the params; a request cut by --deadline-ms answers
 * 200 with the completed steps' params and "stopped": "deadline"; a client
 * that leaves mid-stream is logged 499, its work is cancelled and the
 * daemon goes on serving. */
#define _GNU_SOURCE
#include "harness.h"

#include <sys/socket.h>
#include <unistd.h>

/* A 256x256 by 256x1 product a step with lr 0 (the param stays put):
 * many small steps, so the deadline cuts the request. */
static const char LONG_STEP[] =
    "{\"graph\":\"sum((ones(shape=[256,256]) @ (ones(shape=[256,1]) * w) - 1)^2)\",\"params\":{\"w\":0},"
    "\"optimizer\":{\"lr\":0},\"steps\":5000000,\"report_every\":200%s}";

/* Decode the chunked body of response raw (headers included) into out;
 * 0, or -1 when it is not a whole chunked body. */
static int dechunk(const buf *raw, buf *out) {
    const char *p = strstr(raw->p, "\r\n\r\n"), *end = raw->p + raw->len;
    if (!p) return -1;
    p += 4;
    for (;;) {
        char *q;
        long n = strtol(p, &q, 16);
        if (q == p || q + 2 > end) return -1;
        p = strstr(q, "\r\n");
        if (!p) return -1;
        p += 2;
        if (n == 0) return 0;
        if (p + n > end) return -1;
        buf_put(out, p, (size_t)n);
        p += n + 2;
    }
}

/* POST body to /v1/step on a raw connection with the extra header line
 * (may be ""); reads until the daemon closes. *t_first: ms from the
 * request to the first progress line's bytes (-1: none); *t_end: to the
 * close. */
static void stream_step(int port, const char *body, const char *header, buf *raw, double *t_first, double *t_end) {
    int fd = raw_connect(port);
    assert_true(fd >= 0);
    buf req = {0};
    buf_printf(&req,
               "POST /v1/step HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n%s"
               "Content-Length: %zu\r\n\r\n%s",
               header, strlen(body), body);
    double t0 = now_ms();
    assert_int_equal(raw_send(fd, req.p, req.len), 0);
    buf_free(&req);
    *t_first = -1;
    while (now_ms() - t0 < 30000) {
        buf chunk = {0};
        int closed = raw_read_all(fd, &chunk, 50); /* what came in 50 ms */
        if (chunk.len) buf_put(raw, chunk.p, chunk.len);
        buf_free(&chunk);
        if (*t_first < 0 && raw->p && strstr(raw->p, "{\"step\":")) *t_first = now_ms() - t0;
        if (closed) break;
    }
    *t_end = now_ms() - t0;
    close(fd);
}

static const cfg CFG_STREAM = {"stream", {"--workers", "1", "--deadline-ms", "1500", "--max-steps", "10000000", NULL}};

static void test_lines_arrive_while_the_steps_run(void **state) {
    fixture *f = *state;
    char body[512];
    snprintf(body, sizeof body, LONG_STEP, "");
    buf raw = {0}, text = {0};
    double t_first, t_end;
    stream_step(f->d.port, body, "Accept: application/x-ndjson\r\n", &raw, &t_first, &t_end);
    assert_int_equal(raw_status(&raw), 200);
    assert_non_null(strcasestr(raw.p, "\r\nContent-Type: application/x-ndjson"));
    assert_non_null(strcasestr(raw.p, "\r\nTransfer-Encoding: chunked"));
    assert_int_equal(dechunk(&raw, &text), 0);
    buf_put(&text, "", 1);
    int lines = count_of(text.p, "\n"), progress = count_of(text.p, "{\"step\":");
    const char *last = text.p;
    for (const char *p = text.p; (p = strchr(p, '\n')) && p[1]; p++) last = p + 1;
    json_t *j = json_loads(last, 0, NULL);
    printf("# streamed: %d lines (%d progress), the first after %.0f ms, the last after %.0f ms\n", lines, progress,
           t_first, t_end);
    assert_true(progress >= 2 && lines == progress + 1);
    assert_true(t_first >= 0 && t_first < t_end - 500); /* the first line came long before the end */
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "stopped")), "deadline");
    assert_true(json_integer_value(json_object_get(j, "completed_steps")) >= 200 * progress);
    assert_true(json_is_object(json_object_get(j, "params")));
    json_decref(j);
    buf_free(&raw);
    buf_free(&text);
    char line[1024];
    assert_true(log_find_line(&f->d, "POST /v1/step 200", line, sizeof line));
}

/* Not streamed: the deadline still keeps the work, as one JSON answer. */
static void test_a_deadline_answers_the_completed_steps(void **state) {
    fixture *f = *state;
    char body[512];
    snprintf(body, sizeof body, LONG_STEP, "");
    resp r;
    http(&r, f->d.port, "POST", "/v1/step", body, NULL, 30000);
    assert_int_equal(r.status, 200);
    json_t *j = expect_json(&r, "deadline step");
    assert_non_null(jstr(j, "stopped"));
    assert_string_equal(jstr(j, "stopped"), "deadline");
    assert_true(jnum(j, "completed_steps") > 0);
    assert_int_equal((long)json_array_size(jpath(j, "losses")), (long)jnum(j, "completed_steps"));
    json_decref(j);
    resp_free(&r);
}

/* A client that leaves mid-stream: 499, the work stops, the daemon serves on. */
static void test_a_client_that_leaves_cancels_the_stream(void **state) {
    fixture *f = *state;
    char body[512];
    snprintf(body, sizeof body, LONG_STEP, ",\"stream\":true");
    int fd = raw_connect(f->d.port);
    assert_true(fd >= 0);
    buf req = {0}, got = {0};
    buf_printf(&req, "POST /v1/step HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
               strlen(body), body);
    assert_int_equal(raw_send(fd, req.p, req.len), 0);
    double t0 = now_ms();
    while (now_ms() - t0 < 5000 && !(got.p && strstr(got.p, "{\"step\":"))) {
        buf chunk = {0};
        raw_read_all(fd, &chunk, 50);
        if (chunk.len) buf_put(&got, chunk.p, chunk.len);
        buf_free(&chunk);
    }
    assert_non_null(got.p);
    assert_non_null(strstr(got.p, "{\"step\":"));
    close(fd); /* mid-stream */
    assert_true(wait_idle(f->d.port, 3000));
    char line[1024];
    assert_true(log_find_line(&f->d, "POST /v1/step 499", line, sizeof line));
    assert_int_equal(http_status(f->d.port, "/readyz", 5000), 200);
    resp r;
    http(&r, f->d.port, "POST", "/v1/step",
         "{\"graph\":\"(w*x - y)^2\",\"params\":{\"w\":1},\"inputs\":{\"x\":2,\"y\":3},\"optimizer\":{\"lr\":0.1}}", NULL,
         5000);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    buf_free(&req);
    buf_free(&got);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_lines_arrive_while_the_steps_run, CFG_STREAM),
        T(test_a_deadline_answers_the_completed_steps, CFG_STREAM),
        T(test_a_client_that_leaves_cancels_the_stream, CFG_STREAM),
    };
    return HARNESS_MAIN("stream", tests);
}

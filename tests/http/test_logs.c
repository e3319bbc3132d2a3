/* test_logs.c -- one log line per request, in text and in JSON: method,
 * path, status, bytes in and out, the phases' milliseconds and the
 * request's X-Request-ID, read back from the daemon's stderr. */
#define _GNU_SOURCE
#include "harness.h"

static const cfg CFG_TEXT = {"log-text", {"--workers", "1", NULL}};
static const cfg CFG_JSON = {"log-json", {"--workers", "1", "--log-format", "json", NULL}};


/* Two requests with given ids: a 200 (body of strlen(SUM_PRODUCT) bytes)
 * and a 404. */
static void send_two(int port, const char *id_ok, const char *id_404, size_t *out_ok) {
    char h1[64], h2[64];
    snprintf(h1, sizeof h1, "X-Request-ID: %s", id_ok);
    snprintf(h2, sizeof h2, "X-Request-ID: %s", id_404);
    const char *given1[] = {h1, NULL}, *given2[] = {h2, NULL};
    resp r;
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, given1, 10000);
    expect_status(&r, 200);
    *out_ok = r.body_len;
    resp_free(&r);
    http(&r, port, "GET", "/no-such-page", NULL, given2, 10000);
    expect_status(&r, 404);
    resp_free(&r);
}

static void test_text_log(void **state) {
    fixture *f = *state;
    size_t out_ok = 0;
    send_two(f->d.port, "log-text-ok", "log-text-404", &out_ok);
    char line[1024], want[128];
    if (!log_find_line(&f->d, "id=log-text-ok", line, sizeof line)) fail_msg("no log line with id=log-text-ok");
    snprintf(want, sizeof want, " POST /v1/gradient 200 in=%zu out=%zu read_ms=", strlen(SUM_PRODUCT), out_ok);
    if (!strstr(line, want)) fail_msg("log line %s lacks \"%s\"", line, want);
    double q = -1, c = -1, t = -1;
    const char *p = strstr(line, "queue_ms=");
    if (!p || sscanf(p, "queue_ms=%lf compute_ms=%lf total_ms=%lf", &q, &c, &t) != 3 || q < 0 || c < 0 || t < c)
        fail_msg("log line %s: queue_ms, compute_ms, total_ms missing or out of order", line);
    double ph[4] = {-1, -1, -1, -1};
    p = strstr(line, " decode_ms=");
    if (!p || sscanf(p, " decode_ms=%lf compile_ms=%lf execute_ms=%lf encode_ms=%lf", &ph[0], &ph[1], &ph[2], &ph[3]) != 4)
        fail_msg("log line %s: decode_ms, compile_ms, execute_ms, encode_ms missing or out of order", line);
    if (ph[0] < 0 || ph[1] < 0 || ph[2] < 0 || ph[3] < 0 || ph[0] + ph[1] + ph[2] + ph[3] > c + 0.01)
        fail_msg("log line %s: the phases are not parts of compute_ms", line);
    if (!log_find_line(&f->d, "id=log-text-404", line, sizeof line)) fail_msg("no log line with id=log-text-404");
    if (!strstr(line, " GET /no-such-page 404 in=0 ")) fail_msg("log line %s: want GET /no-such-page 404 in=0", line);
    printf("# text log: one line per request, with method, path, status, sizes, phases and id\n");
}

static void test_json_log(void **state) {
    fixture *f = *state;
    size_t out_ok = 0;
    send_two(f->d.port, "log-json-ok", "log-json-404", &out_ok);
    const char *ids[] = {"log-json-ok", "log-json-404"};
    for (int i = 0; i < 2; i++) {
        char line[1024], needle[64];
        snprintf(needle, sizeof needle, "\"id\":\"%s\"", ids[i]);
        if (!log_find_line(&f->d, needle, line, sizeof line)) fail_msg("no log line with %s", needle);
        json_error_t je;
        json_t *j = json_loads(line, 0, &je);
        if (!j) fail_msg("log line is not JSON (%s): %s", je.text, line);
        const char *method = json_string_value(json_object_get(j, "method"));
        const char *path = json_string_value(json_object_get(j, "path"));
        json_int_t status = json_integer_value(json_object_get(j, "status"));
        json_int_t in = json_integer_value(json_object_get(j, "bytes_in"));
        json_int_t out = json_integer_value(json_object_get(j, "bytes_out"));
        if (i == 0 && (strcmp(method ? method : "", "POST") || strcmp(path ? path : "", "/v1/gradient") || status != 200 ||
                       in != (json_int_t)strlen(SUM_PRODUCT) || out != (json_int_t)out_ok))
            fail_msg("log line %s: want POST /v1/gradient 200, %zu bytes in, %zu out", line, strlen(SUM_PRODUCT), out_ok);
        if (i == 1 && (strcmp(method ? method : "", "GET") || status != 404 || in != 0))
            fail_msg("log line %s: want GET 404, 0 bytes in", line);
        const char *ms[] = {"read_ms",   "queue_ms",   "compute_ms", "total_ms",
                            "decode_ms", "compile_ms", "execute_ms", "encode_ms"};
        for (int k = 0; k < (i == 0 ? 8 : 4); k++)
            if (!json_is_number(json_object_get(j, ms[k])) || json_number_value(json_object_get(j, ms[k])) < 0)
                fail_msg("log line %s: %s is not a number >= 0", line, ms[k]);
        if (!json_is_string(json_object_get(j, "time"))) fail_msg("log line %s: no time", line);
        json_decref(j);
    }
    printf("# JSON log: each line parses, with method, path, status, sizes, phases, time and id\n");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_text_log, CFG_TEXT),
        T(test_json_log, CFG_JSON),
    };
    return HARNESS_MAIN("test_logs", tests);
}

/* harness.h -- what the integration tests of gradd serve share.
 *
 * Each test starts its own `gradd serve --port 0 --bind 127.0.0.1 ...`
 * (GRADD_BIN, default build/gradd) as a child process (the cmocka fixture
 * setup/teardown below), reads the port from its "listening on" line, waits
 * for /readyz, drives it over HTTP through the project's C client
 * (clients/c/gradd_client.h: every request with a timeout) or with raw
 * sockets where the bytes on the wire matter (413 before the body,
 * duplicate Content-Length, smuggling, slow clients), and stops it with
 * SIGTERM (SIGKILL after a timeout, so a hung daemon never hangs the
 * suite). The daemon's stderr goes to <dir of GRADD_BIN>/tests/http/gradd-<test>.log.
 *
 * Threads never assert: they record what they saw and the main thread
 * checks it. Each group prints one "# ..." line with what it measured. */
#ifndef GRADD_TESTS_HTTP_HARNESS_H
#define GRADD_TESTS_HTTP_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "../../clients/c/gradd_client.h"

/* ---- small things ----------------------------------------------------- */

double now_ms(void);
void sleep_ms(int ms);

/* A growable NUL-terminated byte string (abort on out of memory). */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

void buf_put(buf *b, const void *s, size_t n);
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const char *buf_str(const buf *b);
void buf_free(buf *b);

/* Problems a test found, reported together at its end, so one bug does not
 * hide the checks after it. */
void note(buf *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define fail_if_problems(problems)                                                                                \
    do {                                                                                                          \
        if ((problems)->len) {                                                                                    \
            char msg_[4096];                                                                                      \
            snprintf(msg_, sizeof msg_, "%s", buf_str(problems));                                                 \
            buf_free(problems);                                                                                   \
            fail_msg("%s:%d: problems:%s", __FILE__, __LINE__, msg_);                                             \
        }                                                                                                         \
    } while (0)

int count_of(const char *hay, const char *needle);

/* ---- the daemon as a child process ------------------------------------ */

const char *gradd_bin(void);

typedef struct gdaemon {
    const char *name;
    pid_t pid;
    int port;
    int out;       /* read end of its stdout */
    int reaped;
    int status;    /* wait status once reaped */
    char log[512];
} gdaemon;

void print_log_tail(const gdaemon *d);
/* The first line of the daemon's log that holds needle, waiting up to 3 s
 * for it (a request is logged once its response is out, a moment after the
 * client has it). 1 when found, into line. */
int log_find_line(const gdaemon *d, const char *needle, char *line, size_t cap);
/* 1 when reaped within timeout_ms. */
int daemon_wait(gdaemon *d, int timeout_ms);
int daemon_alive(gdaemon *d);
/* SIGTERM; SIGKILL when it has not exited after timeout_ms. The wait status. */
int daemon_stop(gdaemon *d, int timeout_ms);
/* Start the daemon with extra flags (NULL-terminated); 0 when it answers
 * /readyz 200. */
int daemon_start(gdaemon *d, const char *name, const char *const *flags);

/* ---- cmocka fixtures: one daemon per test ----------------------------- */

typedef struct cfg {
    const char *name;
    const char *flags[24];
} cfg;

typedef struct fixture {
    const cfg *c;
    gdaemon d;
} fixture;

int setup(void **state);
/* Every daemon must still be alive at the end of its test and must exit 0
 * on SIGTERM (under ASan: no leak report, no crash on the way out). */
int teardown(void **state);

#define T(fn, c) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&(c))

/* main() of a test program: checks GRADD_BIN, initialises the client
 * library, runs the group, prints its time. The exit status. */
int harness_main(const char *group, const struct CMUnitTest *tests, size_t n);
#define HARNESS_MAIN(group, tests) harness_main((group), (tests), sizeof(tests) / sizeof((tests)[0]))

/* ---- HTTP through clients/c ------------------------------------------- */

typedef gradd_response resp;

/* One request on client c (which keeps its connection). body NULL: no
 * body. headers: NULL-terminated extra lines; a POST body gets
 * Content-Type: application/json unless headers give one. r is always
 * filled (resp_free it). */
void http_on(gradd_client *c, resp *r, const char *method, const char *path, const char *body,
             const char *const *headers, long timeout_ms);
/* The same on a new connection to 127.0.0.1:port. */
void http(resp *r, int port, const char *method, const char *path, const char *body, const char *const *headers,
          long timeout_ms);
/* A client for 127.0.0.1:port (abort when none can be made). */
gradd_client *client_for(int port, long timeout_ms);
/* GET path: the status, or -1 when no response came. */
int http_status(int port, const char *path, long timeout_ms);
void resp_free(resp *r);
/* A response came (whatever its status). */
#define resp_ok(r) ((r)->transport == 0)

/* The value of header name (the first one), trimmed, in out; the number of
 * such headers. */
int hdr(const resp *r, const char *name, char *out, size_t cap);
/* Any header whose name starts with prefix (case-insensitive). */
int has_header_prefix(const resp *r, const char *prefix);

#define expect_status(r, want)                                                                                    \
    do {                                                                                                          \
        if (!resp_ok(r) || (r)->status != (long)(want))                                                           \
            fail_msg("%s:%d: HTTP status %ld (transport: %s), want %d; body: %.400s", __FILE__, __LINE__,         \
                     (r)->status, (r)->error[0] ? (r)->error : "ok", (int)(want), (r)->body);                     \
    } while (0)

/* Header name must be present and contain want (case-sensitive substring). */
#define expect_header_has(r, name, want)                                                                           \
    do {                                                                                                           \
        char hv_[512];                                                                                             \
        if (!hdr((r), (name), hv_, sizeof hv_)) fail_msg("%s:%d: no %s header in:\n%s", __FILE__, __LINE__, (name), \
                                                         (r)->headers);                                            \
        if (!strstr(hv_, (want)))                                                                                  \
            fail_msg("%s:%d: %s is \"%s\", want it to contain \"%s\"", __FILE__, __LINE__, (name), hv_, (want));  \
    } while (0)

/* ---- JSON ------------------------------------------------------------- */

json_t *jparse(const resp *r);
/* "a/b/0": object keys and array indices. */
const json_t *jpath(const json_t *j, const char *path);
double jnum(const json_t *j, const char *path);
const char *jstr(const json_t *j, const char *path);
json_t *expect_json(const resp *r, const char *where);

#define expect_num(j, path, want)                                                                                 \
    do {                                                                                                          \
        double got_ = jnum((j), (path)), want_ = (double)(want);                                                  \
        if (!(fabs(got_ - want_) <= 1e-9 * (1 + fabs(want_))))                                                    \
            fail_msg("%s:%d: %s is %.17g, want %.17g", __FILE__, __LINE__, (path), got_, want_);                  \
    } while (0)

#define expect_str(j, path, want)                                                                                 \
    do {                                                                                                          \
        const char *got_ = jstr((j), (path));                                                                     \
        if (!got_ || strcmp(got_, (want)))                                                                        \
            fail_msg("%s:%d: %s is \"%s\", want \"%s\"", __FILE__, __LINE__, (path), got_ ? got_ : "(none)", (want)); \
    } while (0)

/* An error body: {"error": string, "code": want_code, "path": string}. */
#define expect_error(r, want_status, want_code)                                                                   \
    do {                                                                                                          \
        expect_status((r), (want_status));                                                                        \
        json_t *ej_ = expect_json((r), #want_code);                                                               \
        if (!jstr(ej_, "error") || !jstr(ej_, "path"))                                                            \
            fail_msg("%s:%d: not an error body: %s", __FILE__, __LINE__, (r)->body);                              \
        expect_str(ej_, "code", (want_code));                                                                     \
        json_decref(ej_);                                                                                         \
    } while (0)

/* ---- raw sockets (where the bytes on the wire matter) ------------------ */

int raw_connect(int port);
int raw_send(int fd, const char *s, size_t n);
int raw_sends(int fd, const char *s);
/* Read until the peer closes (1: EOF or reset) or timeout_ms (0). */
int raw_read_all(int fd, buf *b, int timeout_ms);
/* Read one response (headers, then Content-Length bytes of body) into b.
 * 1: a whole response; 0: timeout; -1: closed before a whole one. */
int raw_read_response(int fd, buf *b, int timeout_ms);
int raw_status(const buf *b);

/* ---- request bodies and metrics --------------------------------------- */

/* seed000-sum-product: e = (a+b)(b+1) at a=2, b=1. */
extern const char SUM_PRODUCT[];

int get_metrics(int port, buf *out);
/* The value of the series (name with labels, exactly as printed); NAN when
 * absent. */
double metric(const buf *m, const char *series);
/* gradd_requests_total rows are printed only once non-zero (but for 200). */
double metric0(const buf *m, const char *series);
/* Poll /metrics until series equals want (metrics are counted when the
 * response has been sent, so just after the client saw it); its last value. */
double metric_settle(int port, const char *series, double want, int timeout_ms);
/* Poll until in-flight (computing) plus queued requests reach n; the last
 * count seen. */
int wait_busy(int port, int n, int timeout_ms);
/* Poll until nothing is computing or queued (a worker counts itself out
 * just after its response is on its way). 1 when idle. */
int wait_idle(int port, int timeout_ms);

#endif

/* test_c_client.c -- the C client (clients/c) against a tiny fake server
 * and against live daemons.
 *
 *   test_c_client [URL [AUTH_URL API_KEY]]
 *
 * The fake server (one thread, one connection at a time) answers each
 * request from a script: a status with headers and a body, or a closed
 * connection without an answer, or an answer after a delay. It records
 * each request's line, Content-Type, body and arrival time, so the tests
 * check exactly what the client sent, how often, and how long it waited:
 * retries on 503 (honouring Retry-After) and on connections that broke,
 * the bound on attempts, no retry on a timeout or another status, and the
 * re-upload of a known graph on 404 graph_not_found (its upload retried
 * too). With URL (and AUTH_URL, API_KEY: a second daemon, as
 * tests/clients/run.sh starts them) the re-upload runs against two real
 * daemons where only one has the graph; without them those tests skip.
 *
 * Prints one "ok" or "not ok" line per test; exit status 0 only when every
 * test passed. Built by tests/clients/run.sh with the project's warnings:
 *   cc -std=c11 -Iclients/c tests/clients/test_c_client.c clients/c/gradd_client.c -lcurl -lpthread
 */
#define _POSIX_C_SOURCE 200809L
#include "gradd_client.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- the fake server --------------------------------------------------- */

enum { ANSWER, HANG_UP, SLOW };

/* One scripted answer: what the server does with the next request. */
typedef struct step {
    int action;          /* ANSWER; HANG_UP: close the connection unanswered; SLOW: answer after delay_ms */
    int status;
    const char *headers; /* extra header lines, each ending in "\r\n" ("" for none) */
    const char *body;
    int delay_ms;
} step;

/* What the server saw of one request. */
typedef struct seen {
    char line[128];  /* "POST /v1/gradient" */
    char ctype[64];  /* its Content-Type value */
    char body[512];  /* its body (truncated) */
    double at_ms;    /* when it had arrived, on the monotonic clock */
} seen;

#define MAX_SEEN 16

typedef struct fake {
    int fd;              /* the listening socket */
    int port;
    const step *script;  /* (n_script) */
    int n_script;
    seen got[MAX_SEEN];
    int n_got;
    volatile int stop;
    pthread_t thread;
} fake;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void nap_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

/* A listening TCP socket on 127.0.0.1 and a free port; its port in *port.
 * -1 on failure. */
static int listen_local(int *port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 8) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(a.sin_port);
    return fd;
}

/* Read one request from fd into s (the head up to its blank line, then
 * Content-Length bytes of body). 0, or -1 when the connection closed or
 * the server is stopping. */
static int read_request(fake *f, int fd, seen *s) {
    char buf[8192];
    size_t n = 0;
    char *end = NULL;
    while (!end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (f->stop) return -1;
        if (poll(&p, 1, 50) <= 0) continue;
        ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (k <= 0) return -1;
        n += (size_t)k;
        buf[n] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && n == sizeof buf - 1) return -1;
    }
    s->at_ms = now_ms();
    size_t head = (size_t)(end + 4 - buf);
    const char *sp = strchr(buf, ' '), *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
    snprintf(s->line, sizeof s->line, "%.*s", sp2 ? (int)(sp2 - buf) : 0, buf);
    s->ctype[0] = '\0';
    long clen = 0;
    for (char *l = strstr(buf, "\r\n"); l && l < end; l = strstr(l + 2, "\r\n")) {
        if (!strncasecmp(l + 2, "Content-Length:", 15)) clen = strtol(l + 17, NULL, 10);
        if (!strncasecmp(l + 2, "Content-Type:", 13)) {
            const char *v = l + 15;
            while (*v == ' ') v++;
            snprintf(s->ctype, sizeof s->ctype, "%.*s", (int)strcspn(v, "\r"), v);
        }
    }
    size_t have = n - head;
    s->body[0] = '\0';
    memcpy(s->body, buf + head, have < sizeof s->body - 1 ? have : sizeof s->body - 1);
    s->body[have < sizeof s->body - 1 ? have : sizeof s->body - 1] = '\0';
    while ((long)have < clen) { /* the rest of the body, dropped past body[] */
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        if (k <= 0) return -1;
        size_t room = sizeof s->body - 1 - strlen(s->body);
        strncat(s->body, buf, (size_t)k < room ? (size_t)k : room);
        have += (size_t)k;
    }
    return 0;
}

static void send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        p += k;
        n -= (size_t)k;
    }
}

static void *serve(void *arg) {
    fake *f = arg;
    while (!f->stop) {
        struct pollfd p = {f->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int fd = accept(f->fd, NULL, NULL);
        if (fd < 0) continue;
        for (;;) { /* keep-alive: requests on this connection until it closes */
            seen s;
            if (f->n_got == MAX_SEEN || read_request(f, fd, &s) < 0) break;
            const step *st = f->n_got < f->n_script ? &f->script[f->n_got] : NULL;
            f->got[f->n_got++] = s;
            if (st && st->action == HANG_UP) break;
            if (st && st->action == SLOW) nap_ms(st->delay_ms);
            char head[512];
            const char *body = st ? st->body : "{}";
            int n = snprintf(head, sizeof head,
                             "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
                             st ? st->status : 200, strlen(body), st ? st->headers : "");
            send_all(fd, head, (size_t)n);
            send_all(fd, body, strlen(body));
        }
        close(fd);
    }
    return NULL;
}

/* Start a fake server answering from script (n steps; requests past it get
 * 200 {}). 0, or -1 when it cannot listen. */
static int fake_start(fake *f, const step *script, int n) {
    memset(f, 0, sizeof *f);
    f->script = script;
    f->n_script = n;
    f->fd = listen_local(&f->port);
    if (f->fd < 0) return -1;
    if (pthread_create(&f->thread, NULL, serve, f)) {
        close(f->fd);
        return -1;
    }
    return 0;
}

static void fake_stop(fake *f) {
    f->stop = 1;
    pthread_join(f->thread, NULL);
    close(f->fd);
}

/* A client of the fake server. */
static gradd_client *client_of(int port, long timeout_ms) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    return gradd_client_new(url, NULL, timeout_ms);
}

/* ---- checks ------------------------------------------------------------ */

static int failures, tests;
static char why[1024]; /* the first failed check of the running test */

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond) && !why[0]) {                                                             \
            snprintf(why, sizeof why, "line %d: %s: ", __LINE__, #cond);                      \
            snprintf(why + strlen(why), sizeof why - strlen(why), __VA_ARGS__);               \
        }                                                                                     \
    } while (0)

static void run(const char *name, void (*fn)(void)) {
    why[0] = '\0';
    tests++;
    fn();
    if (!strcmp(why, "skip")) {
        printf("ok %d - %s # SKIP no daemon given\n", tests, name);
    } else if (why[0]) {
        failures++;
        printf("not ok %d - %s\n#   %s\n", tests, name, why);
    } else {
        printf("ok %d - %s\n", tests, name);
    }
    fflush(stdout);
}

static const char GRADIENT[] = "{\"graph\":\"x*x\",\"inputs\":{\"x\":3}}";
static const char BUSY[] = "{\"error\":\"the queue is full\",\"code\":\"overloaded\",\"path\":\"\"}";

/* ---- the tests: retries ------------------------------------------------ */

/* A 503 with Retry-After: 1 is sent again after at least 1 s, by default
 * (a new client retries without being told to). */
static void test_503_retry_after(void) {
    const step script[] = {{ANSWER, 503, "Retry-After: 1\r\n", BUSY, 0}, {ANSWER, 200, "", "{\"values\":{}}", 0}};
    fake f;
    if (fake_start(&f, script, 2) < 0) abort();
    gradd_client *c = client_of(f.port, 5000);
    gradd_response r;
    int rc = gradd_gradient(c, GRADIENT, &r);
    CHECK(rc == 0 && r.status == 200, "rc %d status %ld (%s)", rc, r.status, r.error);
    CHECK(r.attempts == 2, "%d attempts", r.attempts);
    CHECK(f.n_got == 2, "the server saw %d requests", f.n_got);
    if (f.n_got == 2) {
        double gap = f.got[1].at_ms - f.got[0].at_ms;
        CHECK(gap >= 950 && gap < 3000, "the retry came %.0f ms after the 503 with Retry-After: 1", gap);
        CHECK(!strcmp(f.got[1].line, "POST /v1/gradient") && !strcmp(f.got[1].body, GRADIENT), "resent %s %s",
              f.got[1].line, f.got[1].body);
    }
    CHECK(r.ms >= 950, "ms %.0f does not count the wait", r.ms);
    gradd_response_free(&r);
    gradd_client_free(c);
    fake_stop(&f);
}

/* Always 503: retries bound the attempts, the waits double, the last 503 is
 * the answer. */
static void test_503_bounded(void) {
    const step script[] = {{ANSWER, 503, "", BUSY, 0}, {ANSWER, 503, "", BUSY, 0}, {ANSWER, 503, "", BUSY, 0},
                           {ANSWER, 503, "", BUSY, 0}, {ANSWER, 503, "", BUSY, 0}};
    fake f;
    if (fake_start(&f, script, 5) < 0) abort();
    gradd_client *c = client_of(f.port, 5000);
    CHECK(gradd_client_set_retries(c, 2, 40, 1000) == 0, "set_retries refused");
    CHECK(gradd_client_set_retries(c, -1, 40, 1000) == -1, "a negative retry count was taken");
    gradd_response r;
    int rc = gradd_step(c, GRADIENT, &r);
    CHECK(rc == 0 && r.status == 503, "rc %d status %ld", rc, r.status);
    CHECK(r.attempts == 3 && f.n_got == 3, "%d attempts, the server saw %d", r.attempts, f.n_got);
    if (f.n_got == 3) {
        double g1 = f.got[1].at_ms - f.got[0].at_ms, g2 = f.got[2].at_ms - f.got[1].at_ms;
        CHECK(g1 >= 40 && g1 < 40 * 1.25 + 200, "first wait %.0f ms, want 40-50 (+ slack)", g1);
        CHECK(g2 >= 80 && g2 < 80 * 1.25 + 200, "second wait %.0f ms, want 80-100 (+ slack)", g2);
    }
    CHECK(strstr(r.body, "overloaded") != NULL, "the last 503's body: %s", r.body);
    gradd_response_free(&r);
    gradd_client_free(c);
    fake_stop(&f);
}

/* retries 0: one attempt; gradd_request never retries. */
static void test_no_retries(void) {
    const step script[] = {{ANSWER, 503, "", BUSY, 0}, {ANSWER, 503, "", BUSY, 0}, {ANSWER, 200, "", "{}", 0}};
    fake f;
    if (fake_start(&f, script, 3) < 0) abort();
    gradd_client *c = client_of(f.port, 5000);
    gradd_response r;
    int rc = gradd_request(c, "POST", "/v1/gradient", GRADIENT, strlen(GRADIENT), NULL, 0, &r);
    CHECK(rc == 0 && r.status == 503 && r.attempts == 1 && f.n_got == 1, "gradd_request: status %ld, %d attempts",
          r.status, r.attempts);
    gradd_response_free(&r);
    gradd_client_set_retries(c, 0, 10, 10);
    rc = gradd_gradient(c, GRADIENT, &r);
    CHECK(rc == 0 && r.status == 503 && r.attempts == 1 && f.n_got == 2, "retries 0: status %ld, %d attempts",
          r.status, r.attempts);
    gradd_response_free(&r);
    gradd_client_free(c);
    fake_stop(&f);
}

/* Other statuses are answers, not retried. */
static void test_other_status_not_retried(void) {
    const step script[] = {
        {ANSWER, 400, "", "{\"error\":\"bad\",\"code\":\"invalid_json\",\"path\":\"\"}", 0},
        {ANSWER, 500, "", "{\"error\":\"oops\",\"code\":\"internal\",\"path\":\"\"}", 0},
        {ANSWER, 404, "", "{\"error\":\"no\",\"code\":\"graph_not_found\",\"path\":\"/graph/ref\"}", 0}};
    fake f;
    if (fake_start(&f, script, 3) < 0) abort();
    gradd_client *c = client_of(f.port, 5000);
    gradd_client_set_retries(c, 3, 10, 10);
    gradd_response r;
    long want[] = {400, 500, 404};
    for (int i = 0; i < 3; i++) {
        int rc = gradd_forward(c, GRADIENT, &r);
        CHECK(rc == 0 && r.status == want[i] && r.attempts == 1, "status %ld (want %ld), %d attempts", r.status,
              want[i], r.attempts);
        gradd_response_free(&r);
    }
    CHECK(f.n_got == 3, "the server saw %d requests", f.n_got);
    gradd_client_free(c);
    fake_stop(&f);
}

/* A connection closed without an answer is retried (on a new connection). */
static void test_hang_up_retried(void) {
    const step script[] = {{HANG_UP, 0, "", "", 0}, {ANSWER, 200, "", "{\"ops\":[]}", 0}};
    fake f;
    if (fake_start(&f, script, 2) < 0) abort();
    gradd_client *c = client_of(f.port, 5000);
    gradd_client_set_retries(c, 2, 10, 100);
    gradd_response r;
    int rc = gradd_ops(c, &r);
    CHECK(rc == 0 && r.status == 200 && r.attempts == 2, "rc %d status %ld, %d attempts (%s)", rc, r.status,
          r.attempts, r.error);
    CHECK(f.n_got == 2 && !strcmp(f.got[1].line, "GET /v1/ops"), "the server saw %d requests", f.n_got);
    gradd_response_free(&r);
    gradd_client_free(c);
    fake_stop(&f);
}

/* Nothing listens: each attempt is refused, with the backoff between; the
 * answer is the transport error after retries + 1 attempts. */
static void test_refused_retried(void) {
    int port;
    int fd = listen_local(&port);
    if (fd < 0) abort();
    close(fd); /* the port is free now: connections to it are refused */
    gradd_client *c = client_of(port, 5000);
    gradd_client_set_retries(c, 2, 30, 1000);
    gradd_response r;
    double t0 = now_ms();
    int rc = gradd_gradient(c, GRADIENT, &r);
    double took = now_ms() - t0;
    CHECK(rc == -1 && r.transport == CURLE_COULDNT_CONNECT, "rc %d transport %d (%s)", rc, r.transport, r.error);
    CHECK(r.attempts == 3, "%d attempts", r.attempts);
    CHECK(took >= 30 + 60 && took < 2000, "%.0f ms for 3 refused attempts with waits of 30 and 60 ms", took);
    gradd_response_free(&r);
    gradd_client_free(c);
}

/* A timeout is not retried: the same request would take as long. */
static void test_timeout_not_retried(void) {
    const step script[] = {{SLOW, 200, "", "{}", 700}, {ANSWER, 200, "", "{}", 0}};
    fake f;
    if (fake_start(&f, script, 2) < 0) abort();
    gradd_client *c = client_of(f.port, 200);
    gradd_response r;
    int rc = gradd_gradient(c, GRADIENT, &r);
    CHECK(rc == -1 && r.transport == CURLE_OPERATION_TIMEDOUT, "rc %d transport %d (%s)", rc, r.transport, r.error);
    CHECK(r.attempts == 1, "%d attempts", r.attempts);
    gradd_response_free(&r);
    gradd_client_free(c);
    nap_ms(600); /* let the slow answer go out to the closed connection */
    CHECK(f.n_got == 1, "the server saw %d requests", f.n_got);
    fake_stop(&f);
}

/* ---- the tests: the graph store ----------------------------------------- */

static const char REF[] = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

/* 404 graph_not_found for a ref the client knows: it uploads the graph (a
 * 503 on the upload is retried) and sends the request once more. */
static void test_reupload_fake(void) {
    char summary[256];
    snprintf(summary, sizeof summary, "{\"ref\":\"%s\",\"format\":\"json\"}", REF);
    const step script[] = {
        {ANSWER, 404, "", "{\"error\":\"no\",\"code\":\"graph_not_found\",\"path\":\"/graph/ref\"}", 0},
        {ANSWER, 503, "Retry-After: 0\r\n", BUSY, 0},
        {ANSWER, 201, "", summary, 0},
        {ANSWER, 200, "", "{\"values\":{\"loss\":73}}", 0}};
    fake f;
    if (fake_start(&f, script, 4) < 0) abort();
    gradd_client *c = client_of(f.port, 5000);
    gradd_client_set_retries(c, 2, 10, 100);
    const char graph[] = "{\"inputs\":{\"x\":[2]},\"nodes\":[{\"name\":\"loss\",\"expr\":\"sum(x*x)\"}],\"loss\":\"loss\"}";
    CHECK(gradd_remember_graph(c, REF, graph, strlen(graph), NULL) == 0, "remember_graph refused");
    char req[256];
    snprintf(req, sizeof req, "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"x\":[1,2]}}", REF);
    gradd_response r;
    int rc = gradd_forward(c, req, &r);
    CHECK(rc == 0 && r.status == 200 && strstr(r.body, "73"), "rc %d status %ld %s", rc, r.status, r.body);
    CHECK(r.attempts == 2, "%d attempts (the first, then the resend)", r.attempts);
    const char *want[] = {"POST /v1/forward", "POST /v1/graphs", "POST /v1/graphs", "POST /v1/forward"};
    CHECK(f.n_got == 4, "the server saw %d requests", f.n_got);
    for (int i = 0; i < f.n_got && i < 4; i++) CHECK(!strcmp(f.got[i].line, want[i]), "request %d: %s", i, f.got[i].line);
    if (f.n_got == 4) {
        CHECK(!strcmp(f.got[2].body, graph) && !strcmp(f.got[2].ctype, "application/json"), "uploaded %s as %s",
              f.got[2].body, f.got[2].ctype);
        CHECK(!strcmp(f.got[3].body, req), "resent %s", f.got[3].body);
    }
    gradd_response_free(&r);
    gradd_client_free(c);
    fake_stop(&f);
}

/* 404 graph_not_found for a ref the client does not know: the answer. */
static void test_unknown_ref_not_reuploaded(void) {
    const step script[] = {
        {ANSWER, 404, "", "{\"error\":\"no\",\"code\":\"graph_not_found\",\"path\":\"/graph/ref\"}", 0}};
    fake f;
    if (fake_start(&f, script, 1) < 0) abort();
    gradd_client *c = client_of(f.port, 5000);
    char req[256];
    snprintf(req, sizeof req, "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"x\":[1,2]}}", REF);
    gradd_response r;
    int rc = gradd_forward(c, req, &r);
    CHECK(rc == 0 && r.status == 404 && f.n_got == 1, "rc %d status %ld, the server saw %d", rc, r.status, f.n_got);
    gradd_response_free(&r);
    gradd_client_free(c);
    fake_stop(&f);
}

/* ---- the tests: live daemons ------------------------------------------- */

static const char *url_one, *url_two, *key_two;

/* A graph of this run's own (a constant named after the pid and time, so
 * its ref is new to both daemons): loss = sum((x*w)^2); at x = [1, 2],
 * w = [3, 4] it is 73 and d loss/dw = 2 x^2 w = [6, 32]. */
static void own_graph(char *g, size_t cap, const char *salt) {
    snprintf(g, cap,
             "{\"inputs\":{\"x\":[2]},\"params\":{\"w\":[2]},\"constants\":{\"c_%s_%ld_%ld\":0},"
             "\"nodes\":[{\"name\":\"y\",\"op\":\"mul\",\"inputs\":[\"x\",\"w\"]},"
             "{\"name\":\"loss\",\"expr\":\"sum(y*y)\"}],\"loss\":\"loss\"}",
             salt, (long)getpid(), (long)now_ms());
}

/* Two replicas, the graph uploaded to one only: a client of the other that
 * knows the graph uploads it there and resends, for gradient and step. */
static void test_two_daemons(void) {
    if (!url_two) {
        snprintf(why, sizeof why, "skip");
        return;
    }
    char g[512], ref[72], ref2[72], req[512];
    own_graph(g, sizeof g, "c");
    gradd_client *one = gradd_client_new(url_one, NULL, 10000), *two = gradd_client_new(url_two, key_two, 10000);
    gradd_response r;
    int rc = gradd_upload_graph(one, g, strlen(g), "application/json", ref, &r);
    CHECK(rc == 0 && r.status == 201 && !strncmp(ref, "sha256:", 7), "upload: rc %d status %ld %s", rc, r.status,
          r.body);
    gradd_response_free(&r);
    snprintf(req, sizeof req, "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]}}", ref);
    rc = gradd_gradient(two, req, &r); /* two does not know the graph: the 404 is the answer */
    CHECK(rc == 0 && r.status == 404 && strstr(r.body, "graph_not_found"), "status %ld %s", r.status, r.body);
    gradd_response_free(&r);
    CHECK(gradd_remember_graph(two, ref, g, strlen(g), "application/json") == 0, "remember_graph refused");
    rc = gradd_gradient(two, req, &r);
    CHECK(rc == 0 && r.status == 200 && strstr(r.body, "\"gradients\":{\"w\":[6,32]}"), "status %ld %s", r.status,
          r.body);
    gradd_response_free(&r);
    /* step on a second new graph, remembered by its upload to the other daemon */
    own_graph(g, sizeof g, "c_step");
    rc = gradd_upload_graph(two, g, strlen(g), NULL, ref2, &r);
    CHECK(rc == 0 && r.status == 201, "upload to two: status %ld %s", r.status, r.body);
    gradd_response_free(&r);
    /* one never saw this graph, so gradd_remember_graph on one's client is what a load-balanced
     * client would have: the client uploaded it to another replica */
    CHECK(gradd_remember_graph(one, ref2, g, strlen(g), NULL) == 0, "remember_graph refused");
    snprintf(req, sizeof req,
             "{\"graph\":{\"ref\":\"%s\"},\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]},\"steps\":1,"
             "\"optimizer\":{\"name\":\"sgd\",\"lr\":0.5}}",
             ref2);
    rc = gradd_step(one, req, &r); /* w - 0.5 * [6, 32] = [0, -12] */
    CHECK(rc == 0 && r.status == 200 && strstr(r.body, "\"params\":{\"w\":[0,-12]}"), "step: status %ld %s", r.status,
          r.body);
    gradd_response_free(&r);
    gradd_client_free(one);
    gradd_client_free(two);
}

/* A live daemon: a default client gets 200 in one attempt. */
static void test_live_one_attempt(void) {
    if (!url_one) {
        snprintf(why, sizeof why, "skip");
        return;
    }
    gradd_client *c = gradd_client_new(url_one, NULL, 10000);
    gradd_response r;
    int rc = gradd_gradient(c, GRADIENT, &r);
    CHECK(rc == 0 && r.status == 200 && r.attempts == 1 && strstr(r.body, "\"gradients\":{\"x\":6}"),
          "status %ld, %d attempts: %s", r.status, r.attempts, r.body);
    gradd_response_free(&r);
    gradd_client_free(c);
}

int main(int argc, char **argv) {
    url_one = argc > 1 ? argv[1] : NULL;
    url_two = argc > 3 ? argv[2] : NULL;
    key_two = argc > 3 ? argv[3] : NULL;
    if (gradd_global_init() < 0) return 2;
    run("a 503 with Retry-After is retried after it, by default", test_503_retry_after);
    run("503s: retries bound the attempts, the waits double", test_503_bounded);
    run("gradd_request and retries 0 send once", test_no_retries);
    run("400, 500 and 404 are answers, not retried", test_other_status_not_retried);
    run("a connection closed without an answer is retried", test_hang_up_retried);
    run("a refused connection is retried with backoff", test_refused_retried);
    run("a timeout is not retried", test_timeout_not_retried);
    run("graph_not_found: upload (503 retried) and resend", test_reupload_fake);
    run("graph_not_found for an unknown ref is the answer", test_unknown_ref_not_reuploaded);
    run("a live daemon answers in one attempt", test_live_one_attempt);
    run("two daemons, only one has the graph", test_two_daemons);
    gradd_global_cleanup();
    printf("1..%d\n# C client: %d of %d tests failed\n", tests, failures, tests);
    return failures ? 1 : 0;
}

/* test_many_clients.c -- many more clients than workers: every answer is a right 200
 * or a 503 with Retry-After, and the metrics agree. */
#define _GNU_SOURCE
#include "harness.h"

/* 64: a body whose work is over the inline budget at the default
 * --inline-max-bytes; the daemon runs with --inline-max-bytes 0, so every
 * request needs a worker (and BLAS on a worker thread) whatever the
 * budget. */
enum { MM = 64 };
static int mm_x(int i, int k) { return (i + 2 * k) % 7 - 3; }
static int mm_w(int k, int j) { return (3 * k + j) % 5 - 2; }

static char *matmul_body(void) {
    buf b = {0};
    buf_printf(&b, "{\"graph\":\"sum(x@w)\",\"inputs\":{\"x\":[");
    for (int i = 0; i < MM; i++) {
        buf_put(&b, i ? ",[" : "[", i ? 2 : 1);
        for (int k = 0; k < MM; k++) buf_printf(&b, "%s%d", k ? "," : "", mm_x(i, k));
        buf_put(&b, "]", 1);
    }
    buf_printf(&b, "]},\"params\":{\"w\":[");
    for (int k = 0; k < MM; k++) {
        buf_put(&b, k ? ",[" : "[", k ? 2 : 1);
        for (int j = 0; j < MM; j++) buf_printf(&b, "%s%d", j ? "," : "", mm_w(k, j));
        buf_put(&b, "]", 1);
    }
    buf_printf(&b, "]}}");
    return b.p;
}

/* 1 when the body is the right answer of matmul_body; else a reason. */
static int matmul_right(const resp *r, char *why, size_t cap) {
    json_t *j = jparse(r);
    if (!j) {
        snprintf(why, cap, "not JSON: %.100s", r->body);
        return 0;
    }
    double f = 0;
    for (int i = 0; i < MM; i++)
        for (int k = 0; k < MM; k++)
            for (int jj = 0; jj < MM; jj++) f += mm_x(i, k) * mm_w(k, jj);
    int ok = jnum(j, "values/f") == f;
    if (!ok) snprintf(why, cap, "values/f %g, want %g", jnum(j, "values/f"), f);
    for (int k = 0; ok && k < MM; k++) {
        double col = 0;
        for (int i = 0; i < MM; i++) col += mm_x(i, k);
        for (int jj = 0; ok && jj < MM; jj++) {
            char p[64];
            snprintf(p, sizeof p, "gradients/w/%d/%d", k, jj);
            if (jnum(j, p) != col) {
                snprintf(why, cap, "%s is %g, want %g", p, jnum(j, p), col);
                ok = 0;
            }
        }
    }
    json_decref(j);
    return ok;
}


/* ====================================================================== */
/* many more clients than workers                                          */

static const cfg CFG_LOAD = {"load", {"--workers", "2", "--queue", "8", "--inline-max-bytes", "0", NULL}};

typedef struct client {
    int port;
    const char *body;
    int nreq;
    pthread_barrier_t *start;
    int ok, busy, bad, no_retry_after;
    char first_bad[700];
    pthread_t th;
} client;

static void *client_run(void *arg) {
    client *c = arg;
    /* one client per thread, its connection kept between requests */
    gradd_client *h = client_for(c->port, 60000);
    pthread_barrier_wait(c->start);
    for (int i = 0; i < c->nreq; i++) {
        resp r;
        http_on(h, &r, "POST", "/v1/gradient", c->body, NULL, 60000);
        char why[200] = "";
        if (resp_ok(&r) && r.status == 200 && matmul_right(&r, why, sizeof why)) {
            c->ok++;
        } else if (resp_ok(&r) && r.status == 503) {
            c->busy++;
            if (!hdr(&r, "Retry-After", NULL, 0)) c->no_retry_after++;
        } else {
            if (!c->bad++)
                snprintf(c->first_bad, sizeof c->first_bad, "status %ld (transport: %s) %s %.120s", r.status,
                         r.error, why, r.body);
        }
        resp_free(&r);
    }
    gradd_client_free(h);
    return NULL;
}

static void test_many_clients(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    enum { CLIENTS = 64, EACH = 20 };
    char *body = matmul_body();
    /* sanity first */
    resp r;
    char why[200] = "";
    http(&r, port, "POST", "/v1/gradient", body, NULL, 10000);
    expect_status(&r, 200);
    if (!matmul_right(&r, why, sizeof why)) fail_msg("matmul gradient: %s", why);
    resp_free(&r);

    static client cl[CLIENTS];
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, CLIENTS);
    double t0 = now_ms();
    for (int i = 0; i < CLIENTS; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].port = port;
        cl[i].body = body;
        cl[i].nreq = EACH;
        cl[i].start = &start;
        if (pthread_create(&cl[i].th, NULL, client_run, &cl[i]) != 0) abort();
    }
    int ok = 0, busy = 0, bad = 0, nora = 0;
    const char *first_bad = NULL;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(cl[i].th, NULL);
        ok += cl[i].ok;
        busy += cl[i].busy;
        bad += cl[i].bad;
        nora += cl[i].no_retry_after;
        if (cl[i].bad && !first_bad) first_bad = cl[i].first_bad;
    }
    double ms = now_ms() - t0;
    pthread_barrier_destroy(&start);
    printf("# %d clients x %d against --workers 2 --queue 8: %d ok, %d 503, %d other, in %.0f ms\n", CLIENTS, EACH, ok,
           busy, bad, ms);
    assert_true(daemon_alive(&f->d));
    if (bad) fail_msg("%d responses were neither a right 200 nor a 503; the first: %s", bad, first_bad);
    if (nora) fail_msg("%d 503s without Retry-After", nora);
    assert_int_equal(ok + busy, CLIENTS * EACH);
    assert_true(ok > 0);
    /* the daemon's count agrees with ours */
    double c200 = metric_settle(port, "gradd_requests_total{route=\"gradient\",status=\"200\"}", ok + 1, 3000);
    buf m = {0};
    assert_true(get_metrics(port, &m));
    double c503 = metric0(&m, "gradd_requests_total{route=\"gradient\",status=\"503\"}");
    double over = metric(&m, "gradd_rejected_total{reason=\"overloaded\"}");
    buf_free(&m);
    if (c200 != ok + 1 || c503 != busy || over != busy)
        fail_msg("metrics disagree: 200 %g (want %d), 503 %g and overloaded %g (want %d)", c200, ok + 1, c503, over,
                 busy);
    if (!wait_idle(port, 5000)) fail_msg("gradd_in_flight_requests or gradd_queue_depth stay above 0 when idle");
    http(&r, port, "POST", "/v1/gradient", body, NULL, 10000);
    expect_status(&r, 200);
    resp_free(&r);
    free(body);
}

/* ====================================================================== */

int main(void) {
    const struct CMUnitTest tests[] = {
        T(test_many_clients, CFG_LOAD),
    };
    return HARNESS_MAIN("test_many_clients", tests);
}

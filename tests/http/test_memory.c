/* test_memory.c -- every request is bounded, and memory goes back.
 *
 * One daemon with explicit budgets (--workers 2, --max-total-bytes,
 * --max-inflight-bytes, --cache-bytes) takes a burst of hostile and large
 * legal requests:
 *   - JSON bombs of several shapes, sent together (a 503 is retried, as
 *     its Retry-After asks): tens of MB of empty
 *     objects under an unknown field, deep arrays, millions of empty
 *     strings, ragged arrays of numbers, arrays of mixed junk;
 *   - fills: one legal (4096x4096 float64, 128 MiB), one over
 *     --max-total-bytes (8192x8192);
 *   - distinct 30,000-node chains (a new constant in each, so the graph
 *     cache cannot help), and one of 100,000 nodes whose graph with its
 *     gradient (about 480 MB) is over --max-total-bytes: 413;
 *   - 100 uploads of 16 MiB at once on raw sockets: each sends its headers,
 *     waits for an early answer, and only then its body. Those past
 *     --max-inflight-bytes must get 503 "overloaded" with Retry-After
 *     before a byte of their body is sent.
 * Then it idles. Checks: every answer is one of the statuses allowed for
 * its request and the daemon lives; the peak RSS (VmHWM) stays under the
 * budgets (idle + max-inflight + workers x max-total + cache + a
 * BASELINE_MB allowance for threads, libraries and allocator slack); the
 * RSS comes back to within max(20 MB, 20%) of its idle figure (after one
 * small request) within a few seconds; the in-flight gauge comes back to 0.
 * Big bodies and binary answers leave buffers kept for the next requests,
 * within --max-inflight-bytes, freed once the daemon is idle, and freed
 * for a request that needs their share of the budget.
 *
 * The budgets new to this work are given by environment variable
 * (GRADD_MAX_INFLIGHT_BYTES, GRADD_CACHE_BYTES), which an older daemon
 * ignores, so the same checks run against it. Under ASan (GRADD_BIN in a
 * /san/ build) the RSS checks are skipped (ASan's shadow and quarantine
 * are not the daemon's) and the chains are shorter. */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#define MiB ((long long)1 << 20)
enum {
    WORKERS = 2,
    MAX_TOTAL_MB = 256,    /* --max-total-bytes */
    INFLIGHT_MB = 512,     /* --max-inflight-bytes */
    CACHE_MB = 8,          /* --cache-bytes */
    BASELINE_MB = 96,      /* peak allowance beyond the budgets: thread stacks, BLAS buffers, malloc slack */
    IDLE_SLACK_MB = 20,    /* idle RSS must come back within max(this, 20%) */
    BOMB_MB = 16,          /* each JSON bomb */
    UPLOADS = 100,         /* concurrent uploads */
    UPLOAD_MB = 16,        /* each */
    CHAINS = 3,            /* distinct chains that fit the budget */
    CHAIN_NODES = 30000,   /* with their gradient about 150k graph nodes, 120 MB */
    BIG_CHAIN_NODES = 100000, /* about 600k graph nodes, 480 MB: over --max-total-bytes, 413 */
};

static const cfg memory_cfg = {"memory",
                               {"--workers", "2", "--queue", "64", "--max-total-bytes", "268435456",
                                "--max-connections", "1024", "--deadline-ms", "60000", NULL}};

static int under_asan(void) { return strstr(gradd_bin(), "/san/") != NULL; }

/* VmRSS and VmHWM of pid in MB (-1 when unreadable). */
static void rss_of(pid_t pid, double *rss, double *hwm) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    *rss = *hwm = -1;
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        long kb;
        if (sscanf(line, "VmRSS: %ld", &kb) == 1) *rss = kb / 1024.0;
        if (sscanf(line, "VmHWM: %ld", &kb) == 1) *hwm = kb / 1024.0;
    }
    fclose(f);
}

/* ---- bodies ------------------------------------------------------------- */

/* prefix, then unit repeated until the body is about mb MiB, then suffix. */
static char *repeat_body(const char *prefix, const char *unit, const char *last, const char *suffix, long long mb) {
    buf b = {0};
    buf_printf(&b, "%s", prefix);
    size_t ulen = strlen(unit);
    while ((long long)b.len + (long long)ulen < mb * MiB) buf_put(&b, unit, ulen);
    buf_printf(&b, "%s%s", last, suffix);
    return b.p;
}

/* A chain of n long-form nodes, each sin() of the one before; salt makes
 * it a graph the daemon has not seen. */
static char *chain_body(int n, int salt) {
    buf b = {0};
    buf_printf(&b, "{\"graph\":{\"inputs\":{\"x\":[]},\"nodes\":[{\"name\":\"n0\",\"expr\":\"sin(x)*%d\"}", salt);
    for (int i = 1; i < n; i++) buf_printf(&b, ",{\"name\":\"n%d\",\"expr\":\"sin(n%d)*1.0001\"}", i, i - 1);
    buf_printf(&b, "],\"loss\":\"n%d\"},\"inputs\":{\"x\":0.5}}", n - 1);
    return b.p;
}

/* ---- one request on a raw socket ----------------------------------------- */

typedef struct shot {
    int port;
    const char *what;
    const char *path;         /* NULL: /v1/gradient */
    const char *body;         /* len bytes */
    size_t len;
    int wait_early_ms;        /* > 0: send the headers, wait this long for an answer, then the body */
    int retries;              /* a 503 is retried this many times, 200 ms apart (as its Retry-After allows) */
    int early;                /* the answer came before any of the body was sent */
    int status;               /* -1: none */
    char code[48];            /* "code" of an error body */
    int retry_after;          /* a Retry-After header came */
    double ms;
    pthread_t th;
} shot;

static void shot_once(shot *s) {
    s->status = -1;
    s->early = 0;
    s->code[0] = 0;
    int fd = raw_connect(s->port);
    if (fd < 0) return;
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                      s->path ? s->path : "/v1/gradient", s->len);
    buf in = {0};
    int got = 0;
    if (raw_send(fd, head, (size_t)hn) == 0) {
        if (s->wait_early_ms > 0 && raw_read_response(fd, &in, s->wait_early_ms) == 1) s->early = got = 1;
        if (!got) {
            raw_send(fd, s->body, s->len); /* may fail: the daemon answered and closed */
            got = raw_read_response(fd, &in, 120000) == 1;
        }
    }
    close(fd);
    if (got) {
        s->status = raw_status(&in);
        const char *h = buf_str(&in), *end = strstr(h, "\r\n\r\n");
        const char *ra = strcasestr(h, "\r\nRetry-After:");
        s->retry_after = ra && end && ra < end;
        const char *c = end ? strstr(end, "\"code\":\"") : NULL;
        if (c) sscanf(c + 8, "%47[^\"]", s->code);
    }
    buf_free(&in);
}

static void *shot_run(void *arg) {
    shot *s = arg;
    double t0 = now_ms();
    shot_once(s);
    for (int i = 0; i < s->retries && s->status == 503; i++) {
        sleep_ms(200);
        shot_once(s);
    }
    s->ms = now_ms() - t0;
    return NULL;
}

static void shot_start(shot *s) {
    if (pthread_create(&s->th, NULL, shot_run, s) != 0) abort();
}

/* 1 when status is one of the list (terminated by 0). */
static int status_in(int status, const int *allowed) {
    for (; *allowed; allowed++)
        if (status == *allowed) return 1;
    return 0;
}

/* ---- the test ------------------------------------------------------------- */

static void burst_is_bounded_and_memory_goes_back(void **state) {
    fixture *f = *state;
    gdaemon *d = &f->d;
    buf problems = {0};
    int asan = under_asan();
    double rss0, hwm0, rss, hwm;

    /* Idle, after one small request on the I/O thread and one on a worker. */
    resp r;
    http(&r, d->port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    resp_free(&r);
    {
        char *warm = repeat_body("{\"graph\":\"sum(x*x)\",\"inputs\":{\"x\":[", "0.5,", "0.5", "]}}", 1);
        http(&r, d->port, "POST", "/v1/gradient", warm, NULL, 30000);
        expect_status(&r, 200);
        resp_free(&r);
        free(warm);
    }
    sleep_ms(500);
    rss_of(d->pid, &rss0, &hwm0);

    /* 1. JSON bombs and fills, all at once. */
    static const int bad[] = {400, 413, 422, 0}, fill_ok[] = {200, 0}, fill_big[] = {413, 0};
    struct {
        const char *what;
        const char *path;
        char *body;
        const int *allowed;
    } bombs[] = {
        {"junk objects under an unknown field", NULL,
         repeat_body("{\"graph\":\"x\",\"inputs\":{\"x\":1},\"junk\":[", "{},", "{}", "]}", BOMB_MB), bad},
        {"deep arrays", NULL, repeat_body("{\"graph\":\"sum(x)\",\"inputs\":{\"x\":", "[", "1", "}}", 2), bad},
        {"empty strings", NULL, repeat_body("{\"graph\":\"sum(x)\",\"inputs\":{\"x\":[", "\"\",", "\"\"", "]}}", BOMB_MB),
         bad},
        {"ragged numbers", NULL, repeat_body("{\"graph\":\"sum(x)\",\"inputs\":{\"x\":[", "[1],[1,2.5e-3],", "[1]", "]}}", BOMB_MB),
         bad},
        {"mixed junk", NULL, repeat_body("{\"graph\":\"sum(x)\",\"inputs\":{\"x\":[", "1,\"a\",[],{},null,", "1", "]}}", BOMB_MB),
         bad},
        {"fill 4096x4096 (128 MiB)", "/v1/forward", strdup("{\"graph\":\"sum(fill(shape=[4096,4096], value=1))\",\"inputs\":{}}"),
         fill_ok},
        {"fill 8192x8192 (512 MiB, over --max-total-bytes)", "/v1/forward",
         strdup("{\"graph\":\"sum(fill(shape=[8192,8192], value=1))\",\"inputs\":{}}"), fill_big},
    };
    enum { NB = sizeof bombs / sizeof bombs[0] };
    shot shots[NB];
    double t = now_ms();
    for (int i = 0; i < NB; i++) {
        shots[i] = (shot){.port = d->port, .what = bombs[i].what, .path = bombs[i].path, .body = bombs[i].body,
                          .len = strlen(bombs[i].body), .retries = 100};
        shot_start(&shots[i]);
    }
    for (int i = 0; i < NB; i++) pthread_join(shots[i].th, NULL);
    rss_of(d->pid, &rss, &hwm);
    printf("# bombs and fills: %.1f s; peak RSS so far %.0f MB;", (now_ms() - t) / 1e3, hwm);
    for (int i = 0; i < NB; i++) {
        printf(" %s %d%s%s;", bombs[i].what, shots[i].status, shots[i].code[0] ? " " : "", shots[i].code);
        if (!status_in(shots[i].status, bombs[i].allowed))
            note(&problems, "%s: status %d (%s)", bombs[i].what, shots[i].status, shots[i].code);
        free(bombs[i].body);
    }
    printf("\n");
    if (!daemon_alive(d)) fail_msg("the daemon died on the bombs");

    /* 2. Distinct chains, one after another. */
    int chains = asan ? 1 : CHAINS, nodes = asan ? CHAIN_NODES / 5 : CHAIN_NODES;
    t = now_ms();
    unsigned salt = (unsigned)getpid() ^ (unsigned)t;
    for (int i = 0; i < chains; i++) {
        char *body = chain_body(nodes, (int)((salt + (unsigned)i * 7919u) % 100000u) + 2);
        shot s = {.port = d->port, .what = "chain", .body = body, .len = strlen(body)};
        shot_run(&s);
        if (s.status != 200) note(&problems, "chain %d of %d nodes: status %d (%s)", i, nodes, s.status, s.code);
        free(body);
    }
    if (!asan) { /* a graph's own memory counts against --max-total-bytes */
        char *body = chain_body(BIG_CHAIN_NODES, (int)(salt % 100000u) + 3);
        shot s = {.port = d->port, .what = "big chain", .body = body, .len = strlen(body)};
        shot_run(&s);
        if (s.status != 413 || strcmp(s.code, "limit_exceeded"))
            note(&problems, "chain of %d nodes: status %d (%s), want 413 limit_exceeded", BIG_CHAIN_NODES, s.status,
                 s.code);
        free(body);
    }
    rss_of(d->pid, &rss, &hwm);
    printf("# %d distinct %d-node chains: %.1f s; RSS %.0f MB, peak %.0f MB\n", chains, nodes, (now_ms() - t) / 1e3,
           rss, hwm);

    /* 3. 100 uploads at once: headers first, the body only if no answer came. */
    char *upload = repeat_body("{\"graph\":\"sum(x*x)\",\"inputs\":{\"x\":[", "0.5,", "0.5", "]}}", UPLOAD_MB);
    static shot ups[UPLOADS];
    t = now_ms();
    for (int i = 0; i < UPLOADS; i++) {
        ups[i] = (shot){.port = d->port, .what = "upload", .body = upload, .len = strlen(upload), .wait_early_ms = 1500};
        shot_start(&ups[i]);
    }
    int ok = 0, early503 = 0, late503 = 0, other = 0, no_retry = 0;
    for (int i = 0; i < UPLOADS; i++) {
        pthread_join(ups[i].th, NULL);
        if (ups[i].status == 200) ok++;
        else if (ups[i].status == 503 && ups[i].early) early503++;
        else if (ups[i].status == 503) late503++;
        else other++;
        if (ups[i].status == 503 && (!ups[i].retry_after || strcmp(ups[i].code, "overloaded"))) no_retry++;
        if (ups[i].status != 200 && ups[i].status != 503)
            note(&problems, "upload %d: status %d (%s)%s", i, ups[i].status, ups[i].code, ups[i].early ? ", early" : "");
    }
    free(upload);
    rss_of(d->pid, &rss, &hwm);
    printf("# %d uploads of %d MiB at once: %.1f s; 200: %d, 503 before the body: %d, 503 after it: %d, other: %d; "
           "RSS %.0f MB, peak %.0f MB\n",
           UPLOADS, UPLOAD_MB, (now_ms() - t) / 1e3, ok, early503, late503, other, rss, hwm);
    if (early503 < UPLOADS / 2)
        note(&problems, "only %d of %d uploads got 503 before their body was sent (--max-inflight-bytes %d MiB)",
             early503, UPLOADS, INFLIGHT_MB);
    if (late503) note(&problems, "%d uploads got their 503 only after sending the whole body", late503);
    if (ok < 1) note(&problems, "no upload was admitted: the budget must let one through");
    if (no_retry) note(&problems, "%d 503s without Retry-After or code \"overloaded\"", no_retry);
    if (!daemon_alive(d)) fail_msg("the daemon died on the uploads");

    /* 4. Idle: the gauge goes back to 0, and so does the memory. */
    wait_idle(d->port, 30000);
    buf m = {0};
    double gauge = NAN;
    for (int i = 0; i < 50; i++) {
        get_metrics(d->port, &m);
        gauge = metric(&m, "gradd_inflight_request_bytes");
        if (gauge == 0) break;
        buf_free(&m);
        sleep_ms(100);
    }
    if (!(gauge == 0)) note(&problems, "gradd_inflight_request_bytes is %g once idle, want 0", gauge);
    double rejected = metric(&m, "gradd_rejected_total{reason=\"memory\"}");
    buf_free(&m);
    double slack = rss0 * 0.2 > IDLE_SLACK_MB ? rss0 * 0.2 : IDLE_SLACK_MB;
    double t_idle = now_ms();
    do {
        sleep_ms(200);
        rss_of(d->pid, &rss, &hwm);
    } while (!asan && rss > rss0 + slack && now_ms() - t_idle < 8000);
    double bound = hwm0 + INFLIGHT_MB + WORKERS * MAX_TOTAL_MB + CACHE_MB + BASELINE_MB;
    printf("# memory%s: idle %.0f MB at the start, %.0f MB %.1f s after the burst (allowed %.0f); peak %.0f MB "
           "(allowed %.0f: idle + %d in flight + %d x %d total + %d cache + %d baseline); 503 for memory: %g\n",
           asan ? " (ASan build: RSS checks skipped)" : "", rss0, rss, (now_ms() - t_idle) / 1e3, rss0 + slack, hwm,
           bound, INFLIGHT_MB, WORKERS, MAX_TOTAL_MB, CACHE_MB, BASELINE_MB, rejected);
    if (!asan) {
        if (hwm > bound) note(&problems, "peak RSS %.0f MB, over the budgets' %.0f MB", hwm, bound);
        if (rss > rss0 + slack)
            note(&problems, "RSS %.0f MB once idle, not back within %.0f MB of the idle %.0f MB", rss, slack, rss0);
    }
    fail_if_problems(&problems);
}

/* Sockets on local port `port` in CLOSE-WAIT (the peer has closed, this
 * side not yet), from /proc/net/tcp; -1 when unreadable. */
static int close_wait_on(int port) {
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f) return -1;
    char line[512];
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned lport, st;
        if (sscanf(line, " %*d: %*x:%x %*x:%*x %x", &lport, &st) == 2 && (int)lport == port && st == 0x08) n++;
    }
    fclose(f);
    return n;
}

/* A client that declares 8 MiB, reserves it with its headers, sends half
 * and closes: libmicrohttpd
 * 0.9.75 alone notices only at its idle timeout (30 s, the socket in
 * CLOSE-WAIT), holding the connection and the request's reservation of
 * the in-flight budget meanwhile. Both must go within 2 s. */
static void abandoned_upload_gives_its_memory_back(void **state) {
    fixture *f = *state;
    gdaemon *d = &f->d;
    buf problems = {0};
    enum { DECLARED = 8 << 20, SENT = 4 << 20 };
    char *half = malloc(SENT);
    if (!half) abort();
    memset(half, '1', SENT);
    int fd = raw_connect(d->port);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "POST /v1/gradient HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n",
                      DECLARED);
    if (fd < 0 || raw_send(fd, head, (size_t)hn) < 0) fail_msg("cannot send the upload's headers");
    sleep_ms(300);
    buf m = {0};
    get_metrics(d->port, &m);
    double held = metric(&m, "gradd_inflight_request_bytes");
    buf_free(&m);
    /* Half the body and the close at once: the end of the stream comes
     * while the daemon is still reading (what leaves it in CLOSE-WAIT). */
    if (raw_send(fd, half, SENT) < 0) fail_msg("cannot send the upload");
    free(half);
    close(fd);
    double t0 = now_ms(), gauge = NAN;
    int stuck = -1;
    do {
        sleep_ms(100);
        get_metrics(d->port, &m);
        gauge = metric(&m, "gradd_inflight_request_bytes");
        buf_free(&m);
        stuck = close_wait_on(d->port);
    } while ((!(gauge == 0) || stuck != 0) && now_ms() - t0 < 2000);
    printf("# an upload abandoned halfway: %.0f bytes reserved while it came in; %.1f s after the client left: "
           "%g reserved, %d sockets in CLOSE-WAIT\n",
           held, (now_ms() - t0) / 1e3, gauge, stuck);
    if (!(held > DECLARED)) note(&problems, "the upload reserved %g bytes of the in-flight budget, want over %d", held, DECLARED);
    if (!(gauge == 0)) note(&problems, "gradd_inflight_request_bytes is %g 2 s after the client left, want 0", gauge);
    if (stuck != 0) note(&problems, "%d of the daemon's sockets still in CLOSE-WAIT 2 s after the client left", stuck);
    fail_if_problems(&problems);
}

/* Variable var's value in /proc/PID/environ, "" when unset. */
static void env_of(pid_t pid, const char *var, char *out, size_t cap) {
    char path[64], env[65536];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    out[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return;
    size_t n = fread(env, 1, sizeof env - 1, f);
    fclose(f);
    env[n] = 0;
    size_t len = strlen(var);
    for (size_t i = 0; i < n; i += strlen(env + i) + 1)
        if (!strncmp(env + i, var, len) && env[i + len] == '=') snprintf(out, cap, "%s", env + i + len + 1);
}

/* The daemon runs with glibc's huge-page tunable for malloc and with
 * OPENBLAS_THREAD_TIMEOUT=4 (it executes itself again with them set); a
 * tunable naming glibc.malloc.hugetlb itself (an operator's opt-out)
 * stays, and other tunables given stay given.
 * (glibc rewrites the variable as it reads it, so with other tunables
 * the environment need not show the added one.) */
static void daemon_asks_for_huge_pages(void **state) {
    (void)state;
    const char *given[] = {NULL, "glibc.malloc.arena_max=2", "glibc.malloc.hugetlb=0"};
    const char *want[] = {"glibc.malloc.hugetlb=1", "glibc.malloc.arena_max=2", "glibc.malloc.hugetlb=0"};
    const char *flags[] = {"--workers", "1", NULL};
    buf problems = {0};
    for (int i = 0; i < 3; i++) {
        if (given[i]) setenv("GLIBC_TUNABLES", given[i], 1);
        else unsetenv("GLIBC_TUNABLES");
        gdaemon d;
        assert_int_equal(daemon_start(&d, "huge-pages", flags), 0);
        char got[256], blas[32];
        env_of(d.pid, "GLIBC_TUNABLES", got, sizeof got);
        env_of(d.pid, "OPENBLAS_THREAD_TIMEOUT", blas, sizeof blas);
        if (strcmp(blas, "4")) note(&problems, "OPENBLAS_THREAD_TIMEOUT is \"%s\" in the daemon, want 4", blas);
        resp r;
        http(&r, d.port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
        if (r.status != 200) note(&problems, "GLIBC_TUNABLES %s: a gradient answered %ld", given[i], r.status);
        resp_free(&r);
        assert_int_equal(daemon_stop(&d, 10000), 0);
        if (i == 1 ? strncmp(got, want[i], strlen(want[i])) : strcmp(got, want[i]))
            note(&problems, "GLIBC_TUNABLES %s given: the daemon runs with \"%s\", want \"%s\"",
                 given[i] ? given[i] : "unset", got, want[i]);
    }
    unsetenv("GLIBC_TUNABLES");
    printf("# environment: the daemon adds glibc.malloc.hugetlb=1 to its tunables (an operator's =0 stays) and "
           "OPENBLAS_THREAD_TIMEOUT=4\n");
    fail_if_problems(&problems);
}

/* One binary forward of "x*k" on n float64s (x[i] = i / 4 - 3) through a
 * raw socket; 1 when the answer is a 200 whose n float64s are k x[i]
 * exactly. */
static int binary_times(int port, int k, size_t n) {
    char json[256];
    int jl = snprintf(json, sizeof json,
                      "{\"graph\": \"x*%d\", \"inputs\": {\"x\": {\"shape\": [%zu], \"parameters\": "
                      "{\"binary_data_size\": %zu}}}, \"binary_data_output\": true}",
                      k, n, n * sizeof(double));
    double *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; i++) x[i] = (double)i / 4 - 3;
    buf req = {0}, got = {0};
    buf_printf(&req,
               "POST /v1/forward HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n"
               "Inference-Header-Content-Length: %d\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
               jl, (size_t)jl + n * sizeof *x);
    buf_put(&req, json, (size_t)jl);
    buf_put(&req, x, n * sizeof *x);
    int fd = raw_connect(port), ok = 0;
    if (fd >= 0 && raw_send(fd, req.p, req.len) == 0) raw_read_all(fd, &got, 30000);
    if (fd >= 0) close(fd);
    const char *end = got.len ? memmem(got.p, got.len, "\r\n\r\n", 4) : NULL;
    const char *h = end ? strcasestr(got.p, "\r\nInference-Header-Content-Length:") : NULL;
    if (end && h && h < end && raw_status(&got) == 200) {
        size_t hl = (size_t)strtoul(h + 35, NULL, 10), at = (size_t)(end + 4 - got.p) + hl;
        ok = got.len - at == n * sizeof(double);
        for (size_t i = 0; ok && i < n; i++) {
            double y;
            memcpy(&y, got.p + at + i * sizeof y, sizeof y);
            ok = y == k * x[i];
        }
    }
    free(x);
    buf_free(&req);
    buf_free(&got);
    return ok;
}

/* Big bodies and binary answers leave their buffers kept for the next
 * requests (the kernel sends from pages it has touched before several
 * times faster than from fresh ones): after three 16 MiB binary forwards,
 * each answered exactly (a kept buffer holds the last request's bytes,
 * which must not show), gradd_kept_buffer_bytes holds at least one such
 * buffer, the requests' own gauge is back to 0, and once the daemon is
 * idle the kept buffers are freed. */
static void big_buffers_are_kept_then_freed(void **state) {
    fixture *f = *state;
    enum { N = 2 << 20 }; /* 16 MiB of float64 each way */
    for (int k = 2; k <= 4; k++)
        if (!binary_times(f->d.port, k, N)) fail_msg("the binary forward x*%d of %d float64s was not answered exactly", k, N);
    double requests = metric_settle(f->d.port, "gradd_inflight_request_bytes", 0, 5000);
    buf m = {0};
    get_metrics(f->d.port, &m);
    double kept = metric(&m, "gradd_kept_buffer_bytes");
    buf_free(&m);
    /* idle: no request for 200 ms, so the metrics are read 400 ms apart */
    double left = NAN;
    for (int i = 0; i < 12 && !(left == 0); i++) {
        sleep_ms(400);
        get_metrics(f->d.port, &m);
        left = metric(&m, "gradd_kept_buffer_bytes");
        buf_free(&m);
    }
    printf("# kept buffers: %.0f MiB after three 16 MiB binary forwards (requests' own reservations: %.0f), %.0f once "
           "idle\n",
           kept / (1 << 20), requests, left);
    if (!(kept >= (double)N * sizeof(double) && kept <= (double)INFLIGHT_MB * MiB))
        fail_msg("gradd_kept_buffer_bytes is %g after three 16 MiB binary forwards, want 16 MiB to --max-inflight-bytes",
                 kept);
    if (!(requests == 0)) fail_msg("gradd_inflight_request_bytes is %g with no request in flight, want 0", requests);
    if (!(left == 0)) fail_msg("gradd_kept_buffer_bytes is %g with the daemon idle for 5 s, want 0", left);
}

/* The kept buffers hold the in-flight budget only until a request needs
 * it: with --max-inflight-bytes just over what one 16 MiB binary forward
 * reserves (its body and the JSON tree it may become, bounded by
 * --max-total-bytes), the first leaves about 50 MiB kept, and the second
 * must still be admitted (the kept buffers freed for it), not refused
 * with 503 as it would be if they held the budget. */
static const cfg kept_cfg = {"kept",
                             {"--workers", "1", "--max-inflight-bytes", "167772160", "--max-total-bytes", "134217728",
                              NULL}};

static void kept_buffers_give_way_to_a_request(void **state) {
    fixture *f = *state;
    enum { N = 2 << 20 };
    if (!binary_times(f->d.port, 2, N)) fail_msg("the first 16 MiB binary forward was not answered exactly");
    metric_settle(f->d.port, "gradd_inflight_request_bytes", 0, 5000);
    buf m = {0};
    get_metrics(f->d.port, &m);
    double kept = metric(&m, "gradd_kept_buffer_bytes");
    buf_free(&m);
    int second = binary_times(f->d.port, 3, N);
    printf("# kept buffers: %.0f MiB of the 160 MiB budget after a 16 MiB binary forward; the next one %s\n",
           kept / (1 << 20), second ? "was admitted and answered exactly" : "failed");
    if (!(kept >= 32.0 * (1 << 20))) fail_msg("gradd_kept_buffer_bytes is %g after a 16 MiB binary forward, want 32 MiB or more", kept);
    if (!second) fail_msg("a second 16 MiB binary forward was not answered exactly while the kept buffers held the budget");
}

int main(void) {
    /* Budgets an older daemon does not know: by environment, so it still starts. */
    char v[32];
    snprintf(v, sizeof v, "%lld", INFLIGHT_MB * MiB);
    setenv("GRADD_MAX_INFLIGHT_BYTES", v, 1);
    snprintf(v, sizeof v, "%lld", CACHE_MB * MiB);
    setenv("GRADD_CACHE_BYTES", v, 1);
    const struct CMUnitTest tests[] = {T(burst_is_bounded_and_memory_goes_back, memory_cfg),
                                       T(abandoned_upload_gives_its_memory_back, memory_cfg),
                                       T(big_buffers_are_kept_then_freed, memory_cfg),
                                       T(kept_buffers_give_way_to_a_request, kept_cfg),
                                       cmocka_unit_test(daemon_asks_for_huge_pages)};
    return HARNESS_MAIN("memory", tests);
}

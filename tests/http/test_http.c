/* test_http.c -- integration tests of the daemon over real sockets.
 *
 * Each test starts its own `gradd serve --port 0 --bind 127.0.0.1 ...`
 * (GRADD_BIN, default build/gradd) as a child process, reads the port from
 * its "listening on" line, waits for /readyz, drives it with libcurl (every
 * request with CURLOPT_NOSIGNAL and a timeout) or with raw sockets where the
 * bytes on the wire matter (413 before the body, duplicate Content-Length,
 * smuggling, slow clients), and stops it with SIGTERM (SIGKILL after a
 * timeout, so a hung daemon never hangs the suite). The daemon's stderr goes
 * to <dir of GRADD_BIN>/tests/http/gradd-<test>.log.
 *
 * Threads never assert: they record what they saw and the main thread
 * checks it. Each group prints one "# ..." line with what it measured. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---- small things ----------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void buf_put(buf *b, const void *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *np = realloc(b->p, cap);
        if (!np) abort();
        b->p = np;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void buf_printf(buf *b, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) abort();
    if ((size_t)n < sizeof tmp) {
        buf_put(b, tmp, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) abort();
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_put(b, big, (size_t)n);
    free(big);
}

static const char *buf_str(const buf *b) { return b->p ? b->p : ""; }

static void buf_free(buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- the daemon as a child process ------------------------------------ */

static const char *gradd_bin(void) {
    const char *b = getenv("GRADD_BIN");
    return b && *b ? b : "build/gradd";
}

typedef struct gdaemon {
    const char *name;
    pid_t pid;
    int port;
    int out;       /* read end of its stdout */
    int reaped;
    int status;    /* wait status once reaped */
    char log[512];
} gdaemon;

static void log_path(const char *name, char *out, size_t cap) {
    const char *bin = gradd_bin(), *slash = strrchr(bin, '/');
    if (slash) snprintf(out, cap, "%.*s/tests/http/gradd-%s.log", (int)(slash - bin), bin, name);
    else snprintf(out, cap, "gradd-%s.log", name);
}

static void print_log_tail(const gdaemon *d) {
    FILE *f = fopen(d->log, "r");
    if (!f) return;
    char line[512];
    long lines = 0;
    while (fgets(line, sizeof line, f)) lines++;
    rewind(f);
    long i = 0;
    fprintf(stderr, "---- last lines of %s\n", d->log);
    while (fgets(line, sizeof line, f))
        if (i++ >= lines - 20) fputs(line, stderr);
    fclose(f);
}

/* 1 when reaped within timeout_ms. */
static int daemon_wait(gdaemon *d, int timeout_ms) {
    if (d->reaped) return 1;
    double until = now_ms() + timeout_ms;
    for (;;) {
        pid_t p = waitpid(d->pid, &d->status, WNOHANG);
        if (p == d->pid) {
            d->reaped = 1;
            return 1;
        }
        if (p < 0 && errno != EINTR) { /* not our child any more */
            d->reaped = 1;
            d->status = -1;
            return 1;
        }
        if (now_ms() > until) return 0;
        sleep_ms(5);
    }
}

static int daemon_alive(gdaemon *d) { return !daemon_wait(d, 0); }

/* SIGTERM; SIGKILL when it has not exited after timeout_ms. The wait status. */
static int daemon_stop(gdaemon *d, int timeout_ms) {
    if (!d->reaped && d->pid > 0) {
        kill(d->pid, SIGTERM);
        if (!daemon_wait(d, timeout_ms)) {
            fprintf(stderr, "# gradd (%s) did not exit %d ms after SIGTERM: SIGKILL\n", d->name, timeout_ms);
            kill(d->pid, SIGKILL);
            daemon_wait(d, 10000);
        }
    }
    if (d->out >= 0) close(d->out);
    d->out = -1;
    return d->status;
}

static int http_status(int port, const char *path, long timeout_ms);

/* Start the daemon with extra flags (NULL-terminated); 0 when it answers
 * /readyz 200. */
static int daemon_start(gdaemon *d, const char *name, const char *const *flags) {
    memset(d, 0, sizeof *d);
    d->name = name;
    d->out = -1;
    log_path(name, d->log, sizeof d->log);
    const char *argv[48];
    int n = 0;
    argv[n++] = gradd_bin();
    argv[n++] = "serve";
    argv[n++] = "--port";
    argv[n++] = "0";
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    for (int i = 0; flags && flags[i] && n < 46; i++) argv[n++] = flags[i];
    argv[n] = NULL;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    int logfd = open(d->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logfd < 0) logfd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(logfd, 2);
        signal(SIGPIPE, SIG_DFL);
        execv(argv[0], (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(p[1]);
    close(logfd);
    d->pid = pid;
    d->out = p[0];
    /* the "listening on" line */
    char line[512];
    size_t got = 0;
    double until = now_ms() + 30000;
    while (!memchr(line, '\n', got) && got < sizeof line - 1) {
        int left = (int)(until - now_ms());
        struct pollfd pf = {d->out, POLLIN, 0};
        if (left <= 0 || poll(&pf, 1, left) <= 0) break;
        ssize_t r = read(d->out, line + got, sizeof line - 1 - got);
        if (r <= 0) break;
        got += (size_t)r;
    }
    line[got] = '\0';
    const char *s = strstr(line, "listening on ");
    if (!s || sscanf(s, "listening on %*[^:]:%d", &d->port) != 1 || d->port <= 0) {
        fprintf(stderr, "# gradd (%s) printed no port: \"%s\"\n", name, line);
        daemon_stop(d, 2000);
        print_log_tail(d);
        return -1;
    }
    until = now_ms() + 30000;
    while (now_ms() < until) {
        if (http_status(d->port, "/readyz", 2000) == 200) return 0;
        if (!daemon_alive(d)) break;
        sleep_ms(20);
    }
    fprintf(stderr, "# gradd (%s) never became ready on port %d\n", name, d->port);
    daemon_stop(d, 2000);
    print_log_tail(d);
    return -1;
}

/* ---- cmocka fixtures: one daemon per test ----------------------------- */

typedef struct cfg {
    const char *name;
    const char *flags[24];
} cfg;

typedef struct fixture {
    const cfg *c;
    gdaemon d;
} fixture;

static int setup(void **state) {
    const cfg *c = *state;
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    f->c = c;
    if (daemon_start(&f->d, c->name, c->flags) < 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* Every daemon must still be alive at the end of its test and must exit 0
 * on SIGTERM (under ASan: no leak report, no crash on the way out). */
static int teardown(void **state) {
    fixture *f = *state;
    int was_alive = f->d.reaped ? -1 : daemon_alive(&f->d);
    int st = daemon_stop(&f->d, 20000);
    int ok = (was_alive != 0) && WIFEXITED(st) && WEXITSTATUS(st) == 0;
    if (!ok) {
        fprintf(stderr, "# gradd (%s): %s; wait status %#x (%s %d)\n", f->c->name,
                was_alive == 0 ? "died during the test" : "bad exit after SIGTERM", (unsigned)st,
                WIFSIGNALED(st) ? "signal" : "exit", WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        print_log_tail(&f->d);
    }
    free(f);
    return ok ? 0 : -1;
}

/* ---- HTTP with libcurl ------------------------------------------------ */

typedef struct resp {
    long status;
    CURLcode rc;
    buf body, hdrs;
    double ms;
} resp;

static void resp_free(resp *r) {
    buf_free(&r->body);
    buf_free(&r->hdrs);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    buf_put(ud, p, sz * n);
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    buf *b = ud;
    if (sz * n >= 5 && !strncmp(p, "HTTP/", 5)) b->len = 0; /* a new response (after 100 Continue) */
    buf_put(b, p, sz * n);
    return sz * n;
}

/* One request on handle h (reset first; its connection cache stays). body
 * NULL: no body. headers: NULL-terminated extra lines; a POST body gets
 * Content-Type: application/json unless headers give one. */
static void http_on(CURL *h, resp *r, int port, const char *method, const char *path, const char *body,
                    const char *const *headers, long timeout_ms) {
    memset(r, 0, sizeof *r);
    curl_easy_reset(h);
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms < 5000 ? timeout_ms : 5000L);
    curl_easy_setopt(h, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V4);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r->hdrs);
    struct curl_slist *hl = NULL;
    int has_ct = 0;
    for (int i = 0; headers && headers[i]; i++) {
        hl = curl_slist_append(hl, headers[i]);
        if (!strncasecmp(headers[i], "Content-Type:", 13)) has_ct = 1;
    }
    hl = curl_slist_append(hl, "Expect:");
    if (body && !has_ct) hl = curl_slist_append(hl, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(method, body ? "POST" : "GET")) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    double t0 = now_ms();
    r->rc = curl_easy_perform(h);
    r->ms = now_ms() - t0;
    if (r->rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    if (!r->body.p) buf_put(&r->body, "", 0);
    if (!r->hdrs.p) buf_put(&r->hdrs, "", 0);
}

static void http(resp *r, int port, const char *method, const char *path, const char *body,
                 const char *const *headers, long timeout_ms) {
    CURL *h = curl_easy_init();
    if (!h) abort();
    http_on(h, r, port, method, path, body, headers, timeout_ms);
    curl_easy_cleanup(h);
}

static int http_status(int port, const char *path, long timeout_ms) {
    resp r;
    http(&r, port, "GET", path, NULL, NULL, timeout_ms);
    int st = r.rc == CURLE_OK ? (int)r.status : -(int)r.rc;
    resp_free(&r);
    return st;
}

/* The value of header name (the first one), trimmed, in out; the number of
 * such headers. */
static int hdr(const resp *r, const char *name, char *out, size_t cap) {
    int count = 0;
    size_t nlen = strlen(name);
    if (out && cap) out[0] = '\0';
    for (const char *l = buf_str(&r->hdrs); *l;) {
        const char *e = strstr(l, "\r\n");
        size_t llen = e ? (size_t)(e - l) : strlen(l);
        if (llen > nlen && l[nlen] == ':' && !strncasecmp(l, name, nlen)) {
            if (count++ == 0 && out && cap) {
                const char *v = l + nlen + 1;
                while (*v == ' ' || *v == '\t') v++;
                size_t vlen = llen - (size_t)(v - l);
                while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t')) vlen--;
                snprintf(out, cap, "%.*s", (int)vlen, v);
            }
        }
        l += llen + (e ? 2 : 0);
    }
    return count;
}

/* Any header whose name starts with prefix (case-insensitive). */
static int has_header_prefix(const resp *r, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *l = buf_str(&r->hdrs); *l;) {
        if (!strncasecmp(l, prefix, n)) return 1;
        const char *e = strstr(l, "\r\n");
        if (!e) break;
        l = e + 2;
    }
    return 0;
}

#define expect_status(r, want)                                                                                    \
    do {                                                                                                          \
        if ((r)->rc != CURLE_OK || (r)->status != (long)(want))                                                   \
            fail_msg("%s:%d: HTTP status %ld (curl: %s), want %d; body: %.400s", __FILE__, __LINE__, (r)->status, \
                     curl_easy_strerror((r)->rc), (int)(want), buf_str(&(r)->body));                              \
    } while (0)

/* Header name must be present and contain want (case-sensitive substring). */
#define expect_header_has(r, name, want)                                                                           \
    do {                                                                                                           \
        char hv_[512];                                                                                             \
        if (!hdr((r), (name), hv_, sizeof hv_)) fail_msg("%s:%d: no %s header in:\n%s", __FILE__, __LINE__, (name), \
                                                         buf_str(&(r)->hdrs));                                     \
        if (!strstr(hv_, (want)))                                                                                  \
            fail_msg("%s:%d: %s is \"%s\", want it to contain \"%s\"", __FILE__, __LINE__, (name), hv_, (want));  \
    } while (0)

/* ---- JSON ------------------------------------------------------------- */

static json_t *jparse(const resp *r) {
    json_error_t je;
    return json_loadb(buf_str(&r->body), r->body.len, 0, &je);
}

/* "a/b/0": object keys and array indices. */
static const json_t *jpath(const json_t *j, const char *path) {
    char key[128];
    while (j && *path) {
        size_t n = strcspn(path, "/");
        snprintf(key, sizeof key, "%.*s", (int)n, path);
        if (json_is_array(j)) {
            char *end;
            long i = strtol(key, &end, 10);
            j = *end || i < 0 ? NULL : json_array_get(j, (size_t)i);
        } else {
            j = json_object_get(j, key);
        }
        path += n;
        if (*path == '/') path++;
    }
    return j;
}

static double jnum(const json_t *j, const char *path) {
    const json_t *v = jpath(j, path);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static const char *jstr(const json_t *j, const char *path) {
    const json_t *v = jpath(j, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *expect_json(const resp *r, const char *where) {
    json_t *j = jparse(r);
    if (!j) fail_msg("%s: the body is not JSON: %.300s", where, buf_str(&r->body));
    return j;
}

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
            fail_msg("%s:%d: not an error body: %s", __FILE__, __LINE__, buf_str(&(r)->body));                    \
        expect_str(ej_, "code", (want_code));                                                                     \
        json_decref(ej_);                                                                                         \
    } while (0)

/* ---- raw sockets ------------------------------------------------------ */

static int raw_connect(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int raw_send(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

static int raw_sends(int fd, const char *s) { return raw_send(fd, s, strlen(s)); }

/* Read until the peer closes (1: EOF or reset) or timeout_ms (0). */
static int raw_read_all(int fd, buf *b, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    char tmp[8192];
    for (;;) {
        int left = (int)(until - now_ms());
        if (left <= 0) return 0;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return 0;
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return 1;
        buf_put(b, tmp, (size_t)r);
    }
}

/* Read one response (headers, then Content-Length bytes of body) into b.
 * 1: a whole response; 0: timeout; -1: closed before a whole one. */
static int raw_read_response(int fd, buf *b, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    char tmp[4096];
    for (;;) {
        const char *end = b->p ? strstr(b->p, "\r\n\r\n") : NULL;
        if (end) {
            size_t hlen = (size_t)(end - b->p) + 4;
            long cl = 0;
            const char *c = strcasestr(b->p, "\r\nContent-Length:");
            if (c && c < end) cl = strtol(c + 17, NULL, 10);
            if (b->len >= hlen + (size_t)cl) return 1;
        }
        int left = (int)(until - now_ms());
        if (left <= 0) return 0;
        struct pollfd pf = {fd, POLLIN, 0};
        int pr = poll(&pf, 1, left);
        if (pr < 0 && errno == EINTR) continue;
        if (pr <= 0) return 0;
        ssize_t r = recv(fd, tmp, sizeof tmp, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        buf_put(b, tmp, (size_t)r);
    }
}

static int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Problems a test found, reported together at its end, so one bug does not
 * hide the checks after it. */
static void note(buf *problems, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(buf *problems, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_printf(problems, "\n  - %s", tmp);
}

#define fail_if_problems(problems)                                                                                \
    do {                                                                                                          \
        if ((problems)->len) {                                                                                    \
            char msg_[4096];                                                                                      \
            snprintf(msg_, sizeof msg_, "%s", buf_str(problems));                                                 \
            buf_free(problems);                                                                                   \
            fail_msg("%s:%d: problems:%s", __FILE__, __LINE__, msg_);                                             \
        }                                                                                                         \
    } while (0)

static int raw_status(const buf *b) {
    const char *s = buf_str(b);
    return !strncmp(s, "HTTP/1.", 7) && strlen(s) > 12 ? atoi(s + 9) : -1;
}

/* ---- request bodies --------------------------------------------------- */

/* seed000-sum-product: e = (a+b)(b+1) at a=2, b=1. */
static const char SUM_PRODUCT[] = "{\"graph\": \"(a+b)*(b+1)\", \"inputs\": {\"a\": 2, \"b\": 1}}";

/* A 64x64 matmul, `steps` SGD steps with lr 0 (the params stay put):
 * about 0.2 ms a step here, a slow request on demand. */
static char *step_body(long steps) {
    enum { N = 64 };
    buf b = {0};
    buf_printf(&b, "{\"graph\":\"sum((x@w)^2)\",\"params\":{\"w\":[");
    for (int i = 0; i < N; i++) {
        buf_put(&b, i ? ",[" : "[", i ? 2 : 1);
        for (int j = 0; j < N; j++) buf_printf(&b, "%s%g", j ? "," : "", ((i * 5 + j) % 13) / 130.0);
        buf_put(&b, "]", 1);
    }
    buf_printf(&b, "]},\"inputs\":{\"x\":[");
    for (int i = 0; i < N; i++) {
        buf_put(&b, i ? ",[" : "[", i ? 2 : 1);
        for (int j = 0; j < N; j++) buf_printf(&b, "%s%g", j ? "," : "", ((i * 7 + j * 3) % 11) / 11.0);
        buf_put(&b, "]", 1);
    }
    buf_printf(&b, "]},\"optimizer\":{\"name\":\"sgd\",\"lr\":0},\"steps\":%ld}", steps);
    return b.p;
}

/* The small matmul of the load test: f = sum(x@w), x and w MM x MM with
 * small integers, so every number is exact. df/dw[k][j] = sum_i x[i][k]. */
enum { MM = 12 };
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
        snprintf(why, cap, "not JSON: %.100s", buf_str(&r->body));
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

/* ---- metrics ---------------------------------------------------------- */

static int get_metrics(int port, buf *out) {
    resp r;
    http(&r, port, "GET", "/metrics", NULL, NULL, 10000);
    int ok = r.rc == CURLE_OK && r.status == 200;
    if (ok) {
        out->len = 0;
        buf_put(out, r.body.p, r.body.len);
    }
    resp_free(&r);
    return ok;
}

/* The value of the series (name with labels, exactly as printed); NAN when
 * absent. */
static double metric(const buf *m, const char *series) {
    size_t n = strlen(series);
    for (const char *l = buf_str(m); *l;) {
        if (!strncmp(l, series, n) && l[n] == ' ') return strtod(l + n + 1, NULL);
        const char *e = strchr(l, '\n');
        if (!e) break;
        l = e + 1;
    }
    return NAN;
}

/* gradd_requests_total rows are printed only once non-zero (but for 200). */
static double metric0(const buf *m, const char *series) {
    double v = metric(m, series);
    return isnan(v) ? 0 : v;
}

/* Poll /metrics until series equals want (metrics are counted when the
 * response has been sent, so just after the client saw it); its last value. */
static double metric_settle(int port, const char *series, double want, int timeout_ms) {
    buf m = {0};
    double v = NAN, until = now_ms() + timeout_ms;
    do {
        if (get_metrics(port, &m)) v = metric0(&m, series);
        if (v == want) break;
        sleep_ms(10);
    } while (now_ms() < until);
    buf_free(&m);
    return v;
}

/* Poll until in-flight (computing) plus queued requests reach n. */
static int wait_busy(int port, int n, int timeout_ms) {
    buf m = {0};
    double until = now_ms() + timeout_ms;
    int got = -1;
    do {
        if (get_metrics(port, &m))
            got = (int)(metric0(&m, "gradd_in_flight_requests") + metric0(&m, "gradd_queue_depth"));
        if (got >= n) break;
        sleep_ms(5);
    } while (now_ms() < until);
    buf_free(&m);
    return got;
}

/* Poll until nothing is computing or queued (a worker counts itself out
 * just after its response is on its way). 1 when idle. */
static int wait_idle(int port, int timeout_ms) {
    buf m = {0};
    double until = now_ms() + timeout_ms;
    int idle = 0;
    do {
        if (get_metrics(port, &m))
            idle = metric0(&m, "gradd_in_flight_requests") == 0 && metric0(&m, "gradd_queue_depth") == 0;
        if (idle) break;
        sleep_ms(5);
    } while (now_ms() < until);
    buf_free(&m);
    return idle;
}

/* ---- requests on threads ---------------------------------------------- */

typedef struct job {
    int port;
    const char *method, *path, *body;
    const char *const *headers;
    long timeout_ms;
    resp r;
    double t_start, t_end;
    pthread_t th;
} job;

static void *job_run(void *arg) {
    job *j = arg;
    j->t_start = now_ms();
    http(&j->r, j->port, j->method, j->path, j->body, j->headers, j->timeout_ms);
    j->t_end = now_ms();
    return NULL;
}

static void job_start(job *j, int port, const char *method, const char *path, const char *body, long timeout_ms) {
    memset(j, 0, sizeof *j);
    j->port = port;
    j->method = method;
    j->path = path;
    j->body = body;
    j->timeout_ms = timeout_ms;
    if (pthread_create(&j->th, NULL, job_run, j) != 0) abort();
}

/* Milliseconds per step of step_body, measured on this daemon with
 * `parallel` such requests at once (as many as will run together later):
 * the slowest of the second of two rounds, so the graph cache is warm. */
static double ms_per_step(int port, int parallel) {
    enum { STEPS = 300, MAXP = 8 };
    char *body = step_body(STEPS);
    static job js[MAXP];
    double worst = 0;
    if (parallel > MAXP) parallel = MAXP;
    for (int round = 0; round < 2; round++) {
        worst = 0;
        for (int i = 0; i < parallel; i++) job_start(&js[i], port, "POST", "/v1/step", body, 60000);
        for (int i = 0; i < parallel; i++) {
            pthread_join(js[i].th, NULL);
            double ms = js[i].r.rc == CURLE_OK && js[i].r.status == 200 ? js[i].r.ms : 1e9;
            if (ms > worst) worst = ms;
            resp_free(&js[i].r);
        }
    }
    free(body);
    return worst / STEPS;
}

static long steps_for(double per_step, double target_ms) {
    long s = (long)(target_ms / per_step);
    return s < 50 ? 50 : s > 5000000 ? 5000000 : s;
}

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
    if (r.rc != CURLE_OK || (r.status != 204 && r.status != 200))
        fail_msg("preflight: status %ld (%s)", r.status, curl_easy_strerror(r.rc));
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
    assert_int_equal(r.rc, CURLE_OK);
    if (has_header_prefix(&r, "Access-Control-"))
        fail_msg("preflight from an unconfigured origin got CORS headers:\n%s", buf_str(&r.hdrs));
    resp_free(&r);
    const char *evil_post[] = {"Origin: https://evil.example", "Authorization: Bearer k1", NULL};
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, evil_post, 10000);
    expect_status(&r, 200);
    if (has_header_prefix(&r, "Access-Control-"))
        fail_msg("POST from an unconfigured origin got CORS headers:\n%s", buf_str(&r.hdrs));
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
/* 503 with one worker and no queue; metrics                               */

static const cfg CFG_ONE = {"one-worker", {"--workers", "1", "--queue", "0", "--max-steps", "5000000", NULL}};

static void test_overload_and_metrics(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    enum { N = 7 };
    for (int i = 0; i < N; i++) {
        resp r;
        http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
        expect_status(&r, 200);
        resp_free(&r);
    }
    const char *ok200 = "gradd_requests_total{route=\"gradient\",status=\"200\"}";
    double c = metric_settle(port, ok200, N, 3000);
    if (c != N) fail_msg("%s is %g after %d requests", ok200, c, N);
    buf m = {0};
    assert_true(get_metrics(port, &m));
    assert_true(strstr(buf_str(&m), "gradd_compute_seconds_bucket{route=\"gradient\",le=\"+Inf\"} 7\n") != NULL);
    assert_true(strstr(buf_str(&m), "gradd_compute_seconds_bucket{route=\"gradient\",le=\"0.001\"}") != NULL);
    assert_true(strstr(buf_str(&m), "gradd_queue_wait_seconds_bucket{") != NULL);
    assert_false(isnan(metric(&m, "gradd_compute_seconds_count{route=\"gradient\"}")));
    assert_true(metric(&m, "gradd_compute_seconds_count{route=\"gradient\"}") == N);
    assert_false(isnan(metric(&m, "gradd_queue_depth")));
    assert_false(isnan(metric(&m, "gradd_in_flight_requests")));
    assert_true(metric(&m, "gradd_workers") == 1);
    double over0 = metric(&m, "gradd_rejected_total{reason=\"overloaded\"}");
    assert_true(over0 == 0);

    /* One slow step holds the only worker (~1.5 s); three more sent while it
     * runs get 503. Should the step end before they were even sent (a
     * timing estimate gone wrong), the round is run again, twice as long. */
    double per = ms_per_step(port, 1);
    long steps = steps_for(per, 1500);
    enum { K = 3 };
    static job sj, q[K];
    int n503 = 0, n200 = 0, rounds = 0, premise = 0;
    double worst503 = 0, slow_ms = 0;
    while (!premise && rounds < 3) {
        rounds++;
        for (int i = 0; i < K; i++) resp_free(&q[i].r);
        char *slow = step_body(steps);
        assert_true(wait_idle(port, 5000));
        job_start(&sj, port, "POST", "/v1/step", slow, 120000);
        int busy = wait_busy(port, 1, 10000);
        for (int i = 0; i < K; i++) job_start(&q[i], port, "POST", "/v1/gradient", SUM_PRODUCT, 120000);
        for (int i = 0; i < K; i++) pthread_join(q[i].th, NULL);
        pthread_join(sj.th, NULL);
        free(slow);
        if (busy < 1) fail_msg("the slow step never showed up in gradd_in_flight_requests");
        premise = 1;
        for (int i = 0; i < K; i++) {
            if (q[i].t_start > sj.t_end) premise = 0;
            if (q[i].r.status == 503) {
                n503++;
                if (q[i].r.ms > worst503) worst503 = q[i].r.ms;
            } else if (q[i].r.status == 200) {
                n200++;
            }
        }
        expect_status(&sj.r, 200);
        json_t *j = expect_json(&sj.r, "slow step");
        if (json_array_size(json_object_get(j, "losses")) != (size_t)steps)
            fail_msg("the slow step returned %zu losses, want %ld", json_array_size(json_object_get(j, "losses")),
                     steps);
        json_decref(j);
        slow_ms = sj.r.ms;
        resp_free(&sj.r);
        if (!premise) steps *= 2;
    }
    if (!premise) fail_msg("the slow step kept ending before the other requests were sent");
    printf("# overload (--workers 1 --queue 0): slow step of %ld steps took %.0f ms (round %d); of %d requests "
           "meanwhile: %d got 503 (slowest in %.1f ms), %d got 200\n",
           steps, slow_ms, rounds, K, n503, worst503, n200);
    buf problems = {0};
    for (int i = 0; i < K; i++) {
        if (q[i].r.status != 503) {
            note(&problems,
                 "request %d while the only worker was busy (--workers 1 --queue 0): status %ld after %.0f ms, want "
                 "503 at once (the queue admitted it)",
                 i, q[i].r.status, q[i].r.ms);
            resp_free(&q[i].r);
            continue;
        }
        expect_error(&q[i].r, 503, "overloaded");
        expect_header_has(&q[i].r, "Retry-After", "");
        char ra[32];
        hdr(&q[i].r, "Retry-After", ra, sizeof ra);
        assert_true(atoi(ra) >= 1);
        if (q[i].r.ms > 1000) fail_msg("the 503 took %.0f ms: it waited", q[i].r.ms);
        resp_free(&q[i].r);
    }

    /* metrics after: 503s counted, the worker free again */
    resp r;
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    resp_free(&r);
    double want200 = N + n200 + 1;
    c = metric_settle(port, ok200, want200, 3000);
    if (c != want200) fail_msg("%s is %g, want %g", ok200, c, want200);
    assert_true(get_metrics(port, &m));
    double over = metric(&m, "gradd_rejected_total{reason=\"overloaded\"}");
    double c503 = metric0(&m, "gradd_requests_total{route=\"gradient\",status=\"503\"}");
    double step200 = metric0(&m, "gradd_requests_total{route=\"step\",status=\"200\"}");
    buf_free(&m);
    if (over != n503) fail_msg("gradd_rejected_total{reason=\"overloaded\"} is %g after %d 503s", over, n503);
    if (c503 != n503) fail_msg("gradd_requests_total{route=\"gradient\",status=\"503\"} is %g, want %d", c503, n503);
    if (step200 != 2 + rounds) /* the two of ms_per_step and the slow ones */
        fail_msg("gradd_requests_total{route=\"step\",status=\"200\"} is %g, want %d", step200, 2 + rounds);
    printf("# metrics: gradient 200 = %g, 503 = %g, rejected overloaded = %g, step 200 = %g\n", c, c503, over,
           step200);
    fail_if_problems(&problems);
    buf_free(&problems);
}

/* ====================================================================== */
/* 504 at the deadline; the worker is free again                           */

static const cfg CFG_DEADLINE = {"deadline", {"--workers", "1", "--deadline-ms", "100", NULL}};

static void test_deadline(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    char *slow = step_body(10000); /* ~2 s here, far more under ASan */
    resp r;
    http(&r, port, "POST", "/v1/step", slow, NULL, 60000);
    double ms = r.ms;
    expect_error(&r, 504, "cancelled");
    resp_free(&r);
    if (ms > 1500) fail_msg("the 504 came after %.0f ms with --deadline-ms 100: the run was not stopped", ms);
    /* the only worker was freed */
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    json_t *j = expect_json(&r, "after 504");
    expect_num(j, "gradients/a", 2);
    json_decref(j);
    double after = r.ms;
    resp_free(&r);
    /* twice, so a leaked worker would show */
    http(&r, port, "POST", "/v1/step", slow, NULL, 60000);
    expect_error(&r, 504, "cancelled");
    resp_free(&r);
    http(&r, port, "POST", "/v1/gradient", SUM_PRODUCT, NULL, 10000);
    expect_status(&r, 200);
    resp_free(&r);
    free(slow);
    double c = metric_settle(port, "gradd_requests_total{route=\"step\",status=\"504\"}", 2, 3000);
    if (c != 2) fail_msg("gradd_requests_total{route=\"step\",status=\"504\"} is %g, want 2", c);
    printf("# deadline: 10000 steps cancelled with 504 after %.0f ms (--deadline-ms 100); next request 200 in %.1f ms\n",
           ms, after);
}

/* ====================================================================== */
/* many more clients than workers                                          */

static const cfg CFG_LOAD = {"load", {"--workers", "2", "--queue", "8", NULL}};

typedef struct client {
    int port;
    const char *body;
    int nreq;
    pthread_barrier_t *start;
    int ok, busy, bad, no_retry_after;
    char first_bad[300];
    pthread_t th;
} client;

static void *client_run(void *arg) {
    client *c = arg;
    CURL *h = curl_easy_init();
    pthread_barrier_wait(c->start);
    for (int i = 0; h && i < c->nreq; i++) {
        resp r;
        http_on(h, &r, c->port, "POST", "/v1/gradient", c->body, NULL, 60000);
        char why[200] = "";
        if (r.rc == CURLE_OK && r.status == 200 && matmul_right(&r, why, sizeof why)) {
            c->ok++;
        } else if (r.rc == CURLE_OK && r.status == 503) {
            c->busy++;
            if (!hdr(&r, "Retry-After", NULL, 0)) c->no_retry_after++;
        } else {
            if (!c->bad++)
                snprintf(c->first_bad, sizeof c->first_bad, "status %ld (curl: %s) %s %.120s", r.status,
                         curl_easy_strerror(r.rc), why, buf_str(&r.body));
        }
        resp_free(&r);
    }
    if (!h) c->bad = c->nreq;
    if (h) curl_easy_cleanup(h);
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
/* SIGTERM with requests in flight                                         */

static const cfg CFG_DRAIN = {"drain", {"--workers", "2", "--queue", "8", "--grace-s", "5", "--max-steps", "5000000",
                                        NULL}};

static void test_sigterm_drain(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    double per = ms_per_step(port, 2);
    long steps = steps_for(per, 400);
    char *slow = step_body(steps);
    enum { K = 4 };
    buf problems = {0};

    /* a connection that is already open (and answered) before the signal */
    int keep = raw_connect(port);
    assert_true(keep >= 0);
    assert_int_equal(raw_sends(keep, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n"), 0);
    buf b = {0};
    assert_int_equal(raw_read_response(keep, &b, 10000), 1);
    assert_int_equal(raw_status(&b), 200);
    buf_free(&b);

    assert_true(wait_idle(port, 5000));
    /* From here on threads run: nothing fails before they are joined. */
    static job q[K];
    for (int i = 0; i < K; i++) job_start(&q[i], port, "POST", "/v1/step", slow, 120000);
    int busy = wait_busy(port, K, 20000);
    if (busy < K) note(&problems, "only %d of %d slow requests were in flight at SIGTERM", busy, K);

    double t0 = now_ms();
    kill(f->d.pid, SIGTERM);

    /* New connections are refused soon after. One accepted in the few ms
     * before the daemon takes the signal may still see /readyz 200; after
     * the first 503 or refusal, or 100 ms, never. */
    double refused_at = -1, first_not_ready = -1;
    int readyz_503 = 0, readyz_200 = 0, accepted = 0;
    while (now_ms() - t0 < 3000) {
        int fd = raw_connect(port);
        double t = now_ms() - t0;
        if (fd < 0) {
            if (errno == ECONNREFUSED) {
                refused_at = t;
                break;
            }
        } else {
            accepted++;
            raw_sends(fd, "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
            raw_read_all(fd, &b, 2000);
            int st = raw_status(&b);
            if (st == 200) {
                readyz_200++;
                if (first_not_ready >= 0 || t > 100)
                    note(&problems, "/readyz answered 200 on a connection made %.0f ms after SIGTERM%s", t,
                         first_not_ready >= 0 ? ", after it had said 503" : "");
            } else if (first_not_ready < 0) {
                first_not_ready = t;
            }
            if (st == 503) readyz_503++;
            b.len = 0;
            close(fd);
        }
        sleep_ms(2);
    }
    if (refused_at < 0) note(&problems, "new connections were still accepted 3 s after SIGTERM");
    /* through libcurl too: refused or 503 */
    int st = http_status(port, "/readyz", 2000);
    if (st == 200) note(&problems, "/readyz (libcurl, new connection) answered 200 after SIGTERM");
    /* the connection that was open: /readyz is 503 there (or it is closed) */
    const char *kept_saw = "closed without an answer";
    if (raw_sends(keep, "GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n") == 0) {
        int got = raw_read_response(keep, &b, 5000);
        if (got == 1) {
            int ks = raw_status(&b);
            if (ks != 503) note(&problems, "/readyz on a connection open since before SIGTERM: %d, want 503", ks);
            kept_saw = ks == 503 ? "503" : "another status";
        } else if (got == 0) {
            note(&problems, "/readyz on a connection open since before SIGTERM: no answer in 5 s");
            kept_saw = "nothing";
        }
    }
    buf_free(&b);
    close(keep);

    /* every request in flight completes with 200 */
    double last_done = 0;
    int n200 = 0;
    for (int i = 0; i < K; i++) {
        pthread_join(q[i].th, NULL);
        if (q[i].t_end - t0 > last_done) last_done = q[i].t_end - t0;
        json_t *j = q[i].r.rc == CURLE_OK && q[i].r.status == 200 ? jparse(&q[i].r) : NULL;
        if (j && json_array_size(json_object_get(j, "losses")) == (size_t)steps) n200++;
        else
            note(&problems, "request %d in flight at SIGTERM: status %ld (curl: %s) %.200s", i, q[i].r.status,
                 curl_easy_strerror(q[i].r.rc), buf_str(&q[i].r.body));
        json_decref(j);
        resp_free(&q[i].r);
    }
    if (refused_at >= 0 && refused_at > last_done)
        note(&problems, "the listener closed only at %.0f ms, after the requests were done (%.0f ms)", refused_at,
             last_done);
    /* and the process exits 0 within the grace period */
    int exited = daemon_wait(&f->d, 5000 + 3000);
    double exit_ms = now_ms() - t0;
    printf("# drain: %d requests of %ld steps (%.2f ms/step) in flight at SIGTERM, %d completed 200 (last at %.0f ms); "
           "new connections refused from %.0f ms (%d accepted before: /readyz 200 x%d, 503 x%d); connection open "
           "before the signal: %s; exit at %.0f ms\n",
           K, steps, per, n200, last_done, refused_at, accepted, readyz_200, readyz_503, kept_saw, exit_ms);
    if (!exited) {
        note(&problems, "the daemon did not exit within the grace period (5 s) after SIGTERM");
    } else {
        int ws = f->d.status;
        if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
            note(&problems, "after SIGTERM: wait status %#x (%s %d), want exit 0", (unsigned)ws,
                 WIFSIGNALED(ws) ? "signal" : "exit", WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
        if (exit_ms > 5000) note(&problems, "exit took %.0f ms, over the 5 s grace", exit_ms);
    }
    free(slow);
    fail_if_problems(&problems);
    buf_free(&problems);
}

/* ====================================================================== */
/* gradd health                                                            */

static int run_health(int port, const char *path) {
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    char *argv[] = {(char *)gradd_bin(), "health", url, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
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
    assert_int_equal(up, 0);
    assert_int_equal(live, 0);
    assert_int_equal(missing, 1);
    int st = daemon_stop(&f->d, 20000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    int gone = run_health(port, "/readyz");
    assert_int_equal(gone, 1);
    printf("# gradd health: %d while serving (/healthz %d, a 404 path %d), %d once the daemon is gone\n", up, live,
           missing, gone);
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

/* ====================================================================== */

#define T(fn, c) cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, (void *)&(c))

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_ALL) != 0) return 1;
    if (access(gradd_bin(), X_OK) != 0) {
        fprintf(stderr, "test_http: %s is not an executable (set GRADD_BIN)\n", gradd_bin());
        return 1;
    }
    double t0 = now_ms();
    const struct CMUnitTest tests[] = {
        T(test_routes, CFG_BASIC),
        T(test_errors, CFG_BASIC),
        T(test_request_id_health_openapi, CFG_BASIC),
        T(test_auth, CFG_AUTH),
        T(test_cors, CFG_AUTH),
        T(test_body_limit, CFG_LIMITS),
        T(test_smuggling, CFG_LIMITS),
        T(test_slow_clients, CFG_LIMITS),
        T(test_overload_and_metrics, CFG_ONE),
        T(test_deadline, CFG_DEADLINE),
        T(test_many_clients, CFG_LOAD),
        T(test_sigterm_drain, CFG_DRAIN),
        T(test_health_cli, CFG_BASIC),
        T(test_binary_extension, CFG_BASIC),
    };
    int failed = cmocka_run_group_tests_name("http", tests, NULL, NULL);
    printf("# test_http against %s: %.1f s\n", gradd_bin(), (now_ms() - t0) / 1e3);
    curl_global_cleanup();
    return failed ? 1 : 0;
}

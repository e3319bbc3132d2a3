/* harness.c -- the daemon as a child process, cmocka fixtures, HTTP
 * through clients/c, JSON and raw-socket helpers for tests/http (see
 * harness.h). */
#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---- small things ----------------------------------------------------- */

double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

void buf_put(buf *b, const void *s, size_t n) {
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

void buf_printf(buf *b, const char *fmt, ...) {
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

const char *buf_str(const buf *b) { return b->p ? b->p : ""; }

void buf_free(buf *b) {
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* ---- the daemon as a child process ------------------------------------ */

const char *gradd_bin(void) {
    const char *b = getenv("GRADD_BIN");
    return b && *b ? b : "build/gradd";
}

static void log_path(const char *name, char *out, size_t cap) {
    const char *bin = gradd_bin(), *slash = strrchr(bin, '/');
    if (slash) snprintf(out, cap, "%.*s/tests/http/gradd-%s.log", (int)(slash - bin), bin, name);
    else snprintf(out, cap, "gradd-%s.log", name);
}

void print_log_tail(const gdaemon *d) {
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
int daemon_wait(gdaemon *d, int timeout_ms) {
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

int daemon_alive(gdaemon *d) { return !daemon_wait(d, 0); }

/* SIGTERM; SIGKILL when it has not exited after timeout_ms. The wait status. */
int daemon_stop(gdaemon *d, int timeout_ms) {
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

/* Start the daemon with extra flags (NULL-terminated); 0 when it answers
 * /readyz 200. */
int daemon_start(gdaemon *d, const char *name, const char *const *flags) {
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

int setup(void **state) {
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
int teardown(void **state) {
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

/* ---- HTTP through clients/c ------------------------------------------- */

gradd_client *client_for(int port, long timeout_ms) {
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    gradd_client *c = gradd_client_new(url, NULL, timeout_ms);
    if (!c) abort();
    return c;
}

void http_on(gradd_client *c, resp *r, const char *method, const char *path, const char *body,
             const char *const *headers, long timeout_ms) {
    gradd_request(c, method, path, body, body ? strlen(body) : 0, headers, timeout_ms, r);
}

void http(resp *r, int port, const char *method, const char *path, const char *body, const char *const *headers,
          long timeout_ms) {
    gradd_client *c = client_for(port, timeout_ms);
    http_on(c, r, method, path, body, headers, timeout_ms);
    gradd_client_free(c);
}

int http_status(int port, const char *path, long timeout_ms) {
    gradd_client *c = client_for(port, timeout_ms);
    int st = gradd_get_status(c, path, timeout_ms);
    gradd_client_free(c);
    return st;
}

void resp_free(resp *r) { gradd_response_free(r); }

int hdr(const resp *r, const char *name, char *out, size_t cap) { return gradd_response_header(r, name, out, cap); }

int has_header_prefix(const resp *r, const char *prefix) {
    size_t n = strlen(prefix);
    for (const char *l = r->headers ? r->headers : ""; *l;) {
        if (!strncasecmp(l, prefix, n)) return 1;
        const char *e = strstr(l, "\r\n");
        if (!e) break;
        l = e + 2;
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------- */

json_t *jparse(const resp *r) {
    json_error_t je;
    return json_loadb(r->body, r->body_len, 0, &je);
}

/* "a/b/0": object keys and array indices. */
const json_t *jpath(const json_t *j, const char *path) {
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

double jnum(const json_t *j, const char *path) {
    const json_t *v = jpath(j, path);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

const char *jstr(const json_t *j, const char *path) {
    const json_t *v = jpath(j, path);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

json_t *expect_json(const resp *r, const char *where) {
    json_t *j = jparse(r);
    if (!j) fail_msg("%s: the body is not JSON: %.300s", where, r->body);
    return j;
}

/* ---- raw sockets ------------------------------------------------------ */

int raw_connect(int port) {
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

int raw_send(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t w = send(fd, s, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int raw_sends(int fd, const char *s) { return raw_send(fd, s, strlen(s)); }

/* Wait until `until` (ms) for bytes from fd and append what one recv
 * gives to b: 1 some bytes, 0 timeout, -1 the peer closed (EOF or reset). */
static int recv_some(int fd, buf *b, double until) {
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
        if (r <= 0) return -1;
        buf_put(b, tmp, (size_t)r);
        return 1;
    }
}

/* Read until the peer closes (1: EOF or reset) or timeout_ms (0). */
int raw_read_all(int fd, buf *b, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    int r;
    while ((r = recv_some(fd, b, until)) == 1) {
    }
    return r < 0;
}

/* Read one response (headers, then Content-Length bytes of body) into b.
 * 1: a whole response; 0: timeout; -1: closed before a whole one. */
int raw_read_response(int fd, buf *b, int timeout_ms) {
    double until = now_ms() + timeout_ms;
    for (;;) {
        const char *end = b->p ? strstr(b->p, "\r\n\r\n") : NULL;
        if (end) {
            size_t hlen = (size_t)(end - b->p) + 4;
            long cl = 0;
            const char *c = strcasestr(b->p, "\r\nContent-Length:");
            if (c && c < end) cl = strtol(c + 17, NULL, 10);
            if (b->len >= hlen + (size_t)cl) return 1;
        }
        int r = recv_some(fd, b, until);
        if (r <= 0) return r;
    }
}

int count_of(const char *hay, const char *needle) {
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Problems a test found, reported together at its end, so one bug does not
 * hide the checks after it. */
void note(buf *problems, const char *fmt, ...) {
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    buf_printf(problems, "\n  - %s", tmp);
}

int raw_status(const buf *b) {
    const char *s = buf_str(b);
    return !strncmp(s, "HTTP/1.", 7) && strlen(s) > 12 ? atoi(s + 9) : -1;
}

/* ---- request bodies --------------------------------------------------- */

/* seed000-sum-product: e = (a+b)(b+1) at a=2, b=1. */
const char SUM_PRODUCT[] = "{\"graph\": \"(a+b)*(b+1)\", \"inputs\": {\"a\": 2, \"b\": 1}}";

/* ---- metrics ---------------------------------------------------------- */

int get_metrics(int port, buf *out) {
    resp r;
    http(&r, port, "GET", "/metrics", NULL, NULL, 10000);
    int ok = resp_ok(&r) && r.status == 200;
    if (ok) {
        out->len = 0;
        buf_put(out, r.body, r.body_len);
    }
    resp_free(&r);
    return ok;
}

/* The value of the series (name with labels, exactly as printed); NAN when
 * absent. */
double metric(const buf *m, const char *series) {
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
double metric0(const buf *m, const char *series) {
    double v = metric(m, series);
    return isnan(v) ? 0 : v;
}

/* Poll /metrics until series equals want (metrics are counted when the
 * response has been sent, so just after the client saw it); its last value. */
double metric_settle(int port, const char *series, double want, int timeout_ms) {
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
int wait_busy(int port, int n, int timeout_ms) {
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
int wait_idle(int port, int timeout_ms) {
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

/* ---- main ------------------------------------------------------------- */

int harness_main(const char *group, const struct CMUnitTest *tests, size_t n) {
    signal(SIGPIPE, SIG_IGN);
    if (gradd_global_init() != 0) return 1;
    if (access(gradd_bin(), X_OK) != 0) {
        fprintf(stderr, "%s: %s is not an executable (set GRADD_BIN)\n", group, gradd_bin());
        gradd_global_cleanup();
        return 1;
    }
    double t0 = now_ms();
    int failed = _cmocka_run_group_tests(group, tests, n, NULL, NULL);
    printf("# %s against %s: %.1f s\n", group, gradd_bin(), (now_ms() - t0) / 1e3);
    gradd_global_cleanup();
    return failed ? 1 : 0;
}

/* See harness.h. */
int log_find_line(const gdaemon *d, const char *needle, char *line, size_t cap) {
    double until = now_ms() + 3000;
    do {
        FILE *f = fopen(d->log, "r");
        if (f) {
            while (fgets(line, (int)cap, f))
                if (strstr(line, needle)) {
                    fclose(f);
                    return 1;
                }
            fclose(f);
        }
        sleep_ms(20);
    } while (now_ms() < until);
    return 0;
}

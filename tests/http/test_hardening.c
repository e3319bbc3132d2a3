/* test_hardening.c -- the daemon against hostile or sloppy clients:
 *   slowloris      headers trickled a byte at a time are cut at the header
 *                  deadline, a body slower than the minimum rate at the body
 *                  deadline, and a new client is served while slow ones hold
 *                  every connection;
 *   log injection  control bytes in the path or method never reach the text
 *                  log raw (no forged lines, no terminal escapes);
 *   MHD's own 4xx  a 431, a 400 for a bad Content-Length and a 414 each get
 *                  one JSON log line and a metric, and libmicrohttpd's
 *                  messages come out as JSON too;
 *   chunked 413    a chunked body over the limit is answered 413 as soon as
 *                  it passes the limit, not after the whole upload;
 *   static files   symbolic links in the web root are refused; nosniff, a
 *                  Content-Security-Policy and revalidation headers (304);
 *   keep-alive     GET routes answered from headers alone keep the
 *                  connection open;
 *   API keys       "k1, k2" accepts k2.
 * The deadlines come from GRADD_HEADER_TIMEOUT_S, GRADD_BODY_TIMEOUT_S and
 * GRADD_MIN_BODY_RATE (set in main), which an older gradd ignores: its
 * daemon still starts, and the test shows what it does without them. */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_TIMEOUT_S 2
#define BODY_TIMEOUT_S 2
#define MIN_BODY_RATE 1000


/* The whole log file (NUL-terminated) in b. */
static void read_log(const gdaemon *d, buf *b) {
    FILE *f = fopen(d->log, "r");
    if (!f) return;
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) buf_put(b, tmp, n);
    fclose(f);
}

/* ====================================================================== */
/* 1. slowloris                                                            */

static const cfg CFG_SLOW = {"hardening-slow", {"--workers", "1", "--max-connections", "8", NULL}};

#define NSLOW 8

/* Trickle one header byte every 300 ms on each of NSLOW connections for up
 * to 7 s; record when each one was closed by the server (ms after its
 * connect, or -1 when it never was). */
typedef struct slow_clients {
    int port;
    double closed_after[NSLOW];
    int opened;
} slow_clients;

static void *trickle(void *arg) {
    slow_clients *sc = arg;
    int fd[NSLOW];
    double t_open[NSLOW];
    for (int i = 0; i < NSLOW; i++) {
        sc->closed_after[i] = -1;
        fd[i] = raw_connect(sc->port);
        t_open[i] = now_ms();
        if (fd[i] >= 0 && raw_sends(fd[i], "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: ") == 0) sc->opened++;
    }
    double until = now_ms() + 7000;
    while (now_ms() < until) {
        int open = 0;
        for (int i = 0; i < NSLOW; i++) {
            if (fd[i] < 0 || sc->closed_after[i] >= 0) continue;
            char tmp[512];
            ssize_t r = recv(fd[i], tmp, sizeof tmp, MSG_DONTWAIT);
            if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
                send(fd[i], "a", 1, MSG_NOSIGNAL) < 0) {
                sc->closed_after[i] = now_ms() - t_open[i];
                continue;
            }
            open++;
        }
        if (!open) break;
        sleep_ms(300);
    }
    for (int i = 0; i < NSLOW; i++)
        if (fd[i] >= 0) close(fd[i]);
    return NULL;
}

static void test_slowloris(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    buf problems = {0};
    slow_clients sc = {.port = port};
    pthread_t th;
    pthread_create(&th, NULL, trickle, &sc);
    sleep_ms(1300); /* every connection is taken by a trickler */
    double t0 = now_ms();
    int st = http_status(port, "/healthz", 5000);
    double served_ms = now_ms() - t0;
    pthread_join(th, NULL);
    if (sc.opened != NSLOW) note(&problems, "only %d of %d slow connections opened", sc.opened, NSLOW);
    if (st != 200) note(&problems, "a new client got %d (-1: no answer in 5 s) while %d slow ones held the connections", st, NSLOW);
    int late = 0;
    double worst = 0;
    for (int i = 0; i < NSLOW; i++) {
        double c = sc.closed_after[i];
        if (c < 0 || c > HEADER_TIMEOUT_S * 1000 + 1500) late++;
        if (c < 0) worst = 1e9;
        else if (c > worst) worst = c;
    }
    if (late)
        note(&problems, "%d of %d trickling connections were still open %d ms after their connect (header deadline %d s)",
             late, NSLOW, HEADER_TIMEOUT_S * 1000 + 1500, HEADER_TIMEOUT_S);
    /* The server is still fine, and says what it did. */
    if (http_status(port, "/healthz", 5000) != 200) note(&problems, "/healthz after the slow clients: no 200");
    buf m = {0};
    get_metrics(port, &m);
    double cut = metric0(&m, "gradd_rejected_total{reason=\"header_timeout\"}") +
                 metric0(&m, "gradd_rejected_total{reason=\"evicted\"}");
    if (!(cut >= NSLOW)) note(&problems, "gradd_rejected_total header_timeout + evicted is %g, want >= %d", cut, NSLOW);
    buf_free(&m);
    char line[1024];
    if (!log_find_line(&f->d, "/healthz 408 ", line, sizeof line)) note(&problems, "no log line \"GET /healthz 408\"");
    printf("# slowloris: new client served in %.0f ms (status %d); slowest trickler closed after %.0f ms\n", served_ms,
           st, worst);
    fail_if_problems(&problems);
}

/* A body that trickles 10 bytes every 300 ms (about 33 B/s, under the
 * minimum rate) is cut at the body deadline; one at a good rate is not. */
static void test_slow_body(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    buf problems = {0};
    int fd = raw_connect(port);
    assert_true(fd >= 0);
    double t0 = now_ms(), closed = -1;
    raw_sends(fd, "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100000\r\n\r\n");
    while (now_ms() - t0 < 8000) {
        char tmp[512];
        ssize_t r = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) || send(fd, "          ", 10, MSG_NOSIGNAL) < 0) {
            closed = now_ms() - t0;
            break;
        }
        sleep_ms(300);
    }
    close(fd);
    if (closed < 0 || closed > BODY_TIMEOUT_S * 1000 + 1500)
        note(&problems, "a body at 33 B/s (minimum %d B/s) was still open after %.0f ms (body deadline %d s)",
             MIN_BODY_RATE, closed < 0 ? now_ms() - t0 : closed, BODY_TIMEOUT_S);
    /* 6000 bytes at 3000 B/s for 2 s: above the minimum rate, it completes */
    fd = raw_connect(port);
    assert_true(fd >= 0);
    size_t len = 6000, sent = 0;
    char *body = malloc(len);
    assert_non_null(body);
    memset(body, ' ', len);
    memcpy(body, SUM_PRODUCT, strlen(SUM_PRODUCT));
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
             len);
    raw_sends(fd, head);
    while (sent < len && raw_send(fd, body + sent, 300) == 0) {
        sent += 300;
        sleep_ms(100);
    }
    buf b = {0};
    raw_read_response(fd, &b, 5000);
    close(fd);
    free(body);
    if (raw_status(&b) != 200) note(&problems, "a body at 3000 B/s got \"%.120s\", want 200", buf_str(&b));
    buf_free(&b);
    printf("# slow body: cut after %.0f ms\n", closed);
    fail_if_problems(&problems);
}

/* ====================================================================== */
/* 2. log injection                                                        */

static const cfg CFG_TEXT = {"hardening-text", {"--workers", "1", NULL}};

static void test_log_injection(void **state) {
    fixture *f = *state;
    buf problems = {0};
    const char *reqs[] = {
        "GET /x%0aFAKE%20LOG%20LINE%20200 HTTP/1.1\r\nHost: t\r\nX-Request-ID: inj-newline\r\n\r\n",
        "GET /y%1b[2J%1b[31mred%0d HTTP/1.1\r\nHost: t\r\nX-Request-ID: inj-escape\r\n\r\n",
        "G\x1b[31mT /z HTTP/1.1\r\nHost: t\r\nX-Request-ID: inj-method\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        int fd = raw_connect(f->d.port);
        assert_true(fd >= 0);
        raw_sends(fd, reqs[i]);
        buf b = {0};
        raw_read_response(fd, &b, 5000);
        close(fd);
        buf_free(&b);
    }
    char line[1024];
    if (!log_find_line(&f->d, "id=inj-escape", line, sizeof line)) note(&problems, "no log line for id=inj-escape");
    if (!log_find_line(&f->d, "id=inj-newline", line, sizeof line)) note(&problems, "no log line for id=inj-newline");
    else if (!strstr(line, "/x\\x0aFAKE\\x20LOG\\x20LINE\\x20200 404 "))
        note(&problems, "the newline's line is %s; want the path escaped as /x\\x0aFAKE\\x20LOG...", line);
    buf log = {0};
    read_log(&f->d, &log);
    for (const char *p = buf_str(&log); p; p = strchr(p, '\n')) {
        if (*p == '\n') p++;
        if (!strncmp(p, "FAKE", 4)) note(&problems, "a forged log line: %.60s", p);
    }
    for (size_t i = 0; i < log.len; i++) {
        unsigned char c = (unsigned char)log.p[i];
        if ((c < 0x20 && c != '\n') || c == 0x7f) {
            note(&problems, "a raw control byte 0x%02x in the log: ...%.40s", c, log.p + (i > 20 ? i - 20 : 0));
            break;
        }
    }
    buf_free(&log);
    printf("# log injection: the path and method escaped in the text log\n");
    fail_if_problems(&problems);
}

/* ====================================================================== */
/* 3. what libmicrohttpd rejects by itself                                 */

static const cfg CFG_JSON = {"hardening-json", {"--workers", "1", "--log-format", "json", NULL}};

/* One raw request, its response in *b (empty when none came): head, then
 * a header line of big_header bytes of value and the blank line (none
 * when big_header is 0). */
static void raw_request(int port, const char *head, size_t big_header, buf *b) {
    int fd = raw_connect(port);
    if (fd < 0) return;
    raw_sends(fd, head);
    if (big_header) {
        char *big = malloc(big_header + 16);
        if (!big) abort();
        memcpy(big, "X-Big: ", 7);
        memset(big + 7, 'a', big_header);
        memcpy(big + 7 + big_header, "\r\n\r\n", 5);
        raw_sends(fd, big);
        free(big);
    }
    raw_read_response(fd, b, 5000);
    close(fd);
}

/* One raw request; the status (0 when no response came). */
static int raw_request_status(int port, const char *head, size_t big_header) {
    buf b = {0};
    raw_request(port, head, big_header, &b);
    int st = b.len ? raw_status(&b) : 0;
    buf_free(&b);
    return st;
}

static void test_mhd_rejections(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    buf problems = {0};
    int s431 = raw_request_status(port, "GET /big-header HTTP/1.1\r\nHost: t\r\n", 100000);
    int s400 = raw_request_status(port,
                                  "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 12abc\r\n\r\n{}",
                                  0);
    buf longurl = {0};
    buf_put(&longurl, "GET /", 5);
    for (int i = 0; i < 100000; i++) buf_put(&longurl, "u", 1);
    buf_printf(&longurl, " HTTP/1.1\r\nHost: t\r\n\r\n");
    int s414 = raw_request_status(port, buf_str(&longurl), 0);
    buf_free(&longurl);
    if (s431 != 431) note(&problems, "100 KB of header: status %d, want 431", s431);
    if (s400 != 400) note(&problems, "Content-Length: 12abc: status %d, want 400", s400);
    if (s414 != 414) note(&problems, "a 100 KB URI: status %d, want 414", s414);
    /* one JSON line per request, with the status MHD sent */
    char line[2048];
    struct {
        const char *needle;
        int status;
    } want[] = {{"\"path\":\"/big-header\"", 431}, {"\"status\":400", 400}, {"\"status\":414", 414}};
    for (int i = 0; i < 3; i++) {
        if (!log_find_line(&f->d, want[i].needle, line, sizeof line)) {
            note(&problems, "no log line with %s (status %d)", want[i].needle, want[i].status);
            continue;
        }
        json_t *j = json_loads(line, 0, NULL);
        if (!j || json_integer_value(json_object_get(j, "status")) != want[i].status)
            note(&problems, "log line %.200s: want JSON with status %d", line, want[i].status);
        json_decref(j);
    }
    /* every line of the log is JSON: libmicrohttpd's messages included */
    buf log = {0};
    read_log(&f->d, &log);
    int lines = 0, bad = 0;
    for (char *p = log.p, *nl; p && *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) break;
        *nl = '\0';
        lines++;
        json_t *j = json_loads(p, 0, NULL);
        if (!j && !strncmp(p, "gradd: ", 7)) continue; /* the daemon's own start and stop lines */
        if (!j && bad++ < 3) note(&problems, "a log line that is not JSON: %.160s", p);
        json_decref(j);
    }
    buf_free(&log);
    /* and the metrics count them */
    buf m = {0};
    get_metrics(port, &m);
    double m431 = metric0(&m, "gradd_requests_total{route=\"other\",status=\"431\"}");
    double m414 = metric0(&m, "gradd_requests_total{route=\"other\",status=\"414\"}");
    double m400 = metric0(&m, "gradd_requests_total{route=\"gradient\",status=\"400\"}") +
                  metric0(&m, "gradd_requests_total{route=\"other\",status=\"400\"}");
    double rej = metric0(&m, "gradd_rejected_total{reason=\"bad_headers\"}");
    buf_free(&m);
    if (m431 != 1 || m414 != 1 || m400 != 1)
        note(&problems, "gradd_requests_total: 431 -> %g, 414 -> %g, 400 -> %g; want 1 each", m431, m414, m400);
    if (!(rej >= 3)) note(&problems, "gradd_rejected_total{reason=\"bad_headers\"} is %g, want 3", rej);
    printf("# MHD's own answers: %d, %d, %d; %d log lines, %d not JSON\n", s431, s400, s414, lines, bad);
    fail_if_problems(&problems);
}

/* The header limit is the daemon's own (--max-header-bytes), below what
 * the connection buffer that bodies are read through would take: a header
 * section over it is 431 and a URI over it 414, each with the JSON error
 * of its code, and the connection closed; one under it is served. Past
 * the buffer itself libmicrohttpd still answers 431 by itself. */
static const cfg CFG_HEADER_LIMIT = {"hardening-header-limit",
                                     {"--workers", "1", "--max-header-bytes", "4096", NULL}};

static void expect_refusal(buf *problems, const char *what, buf *b, int status, const char *code) {
    int st = b->len ? raw_status(b) : 0;
    const char *body = b->len ? strstr(buf_str(b), "\r\n\r\n") : NULL;
    json_t *j = body ? json_loads(body + 4, 0, NULL) : NULL;
    const char *got = json_string_value(json_object_get(j, "code"));
    if (st != status || !got || strcmp(got, code))
        note(problems, "%s: status %d, code %s; want %d %s", what, st, got ? got : "(none)", status, code);
    if (!strcasestr(buf_str(b), "\r\nConnection: close\r\n")) note(problems, "%s: the connection stays open", what);
    json_decref(j);
}

static void test_header_limit(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    buf problems = {0}, b = {0};
    int under = raw_request_status(port, "GET /v1/ops HTTP/1.1\r\nHost: t\r\n", 3500);
    if (under != 200) note(&problems, "3.5 KB of header under a 4 KB limit: status %d, want 200", under);
    raw_request(port, "GET /v1/ops HTTP/1.1\r\nHost: t\r\n", 4100, &b);
    expect_refusal(&problems, "4.1 KB of header", &b, 431, "headers_too_large");
    buf_free(&b);
    buf uri = {0};
    buf_put(&uri, "GET /v1/ops?", 12);
    for (int i = 0; i < 5000; i++) buf_put(&uri, "u", 1);
    buf_printf(&uri, " HTTP/1.1\r\nHost: t\r\n\r\n");
    raw_request(port, buf_str(&uri), 0, &b);
    expect_refusal(&problems, "a 5 KB URI", &b, 414, "uri_too_long");
    buf_free(&b);
    buf_free(&uri);
    int huge = raw_request_status(port, "GET /v1/ops HTTP/1.1\r\nHost: t\r\n", 200000);
    if (huge != 431) note(&problems, "200 KB of header (past the connection buffer): status %d, want 431", huge);
    buf m = {0};
    get_metrics(port, &m);
    double rej = metric0(&m, "gradd_rejected_total{reason=\"bad_headers\"}");
    buf_free(&m);
    if (rej != 3) note(&problems, "gradd_rejected_total{reason=\"bad_headers\"} is %g, want 3", rej);
    printf("# header limit 4096: 3.5 KB -> %d, 4.1 KB -> 431, 5 KB URI -> 414, 200 KB -> %d\n", under, huge);
    fail_if_problems(&problems);
}

/* The defaults: a 32 KiB header limit, the daemon's own (the connection
 * buffer holds more), and a limit given alone gets a buffer four times
 * it. */
static const cfg CFG_HEADER_DEFAULT = {"hardening-header-default", {"--workers", "1", NULL}};
static const cfg CFG_HEADER_BIG = {"hardening-header-big", {"--workers", "1", "--max-header-bytes", "65536", NULL}};

/* A header of under bytes is served and one of over bytes refused, 431
 * headers_too_large, on f's daemon (limit its header limit, for the notes). */
static void header_bounds(fixture *f, size_t under, size_t over, const char *limit) {
    buf problems = {0}, b = {0};
    int st = raw_request_status(f->d.port, "GET /v1/ops HTTP/1.1\r\nHost: t\r\n", under);
    if (st != 200) note(&problems, "%zu bytes of header under %s: status %d, want 200", under, limit, st);
    raw_request(f->d.port, "GET /v1/ops HTTP/1.1\r\nHost: t\r\n", over, &b);
    char what[96];
    snprintf(what, sizeof what, "%zu bytes of header over %s", over, limit);
    expect_refusal(&problems, what, &b, 431, "headers_too_large");
    buf_free(&b);
    printf("# header limit %s: %zu bytes -> %d, %zu -> 431 headers_too_large\n", limit, under, st, over);
    fail_if_problems(&problems);
}

static void test_header_limit_default(void **state) { header_bounds(*state, 30000, 34000, "32 KiB (the default)"); }

static void test_header_limit_given(void **state) {
    header_bounds(*state, 60000, 70000, "65536 (given alone: the buffer grows to four times it)");
}

/* ====================================================================== */
/* 4. a chunked body over the limit                                        */

static const cfg CFG_CHUNKED = {"hardening-chunked", {"--workers", "1", "--max-body-bytes", "1048576", NULL}};

static void test_chunked_over_limit(void **state) {
    fixture *f = *state;
    buf problems = {0};
    int fd = raw_connect(f->d.port);
    assert_true(fd >= 0);
    raw_sends(fd, "POST /v1/gradient HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n");
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    /* 64 KiB chunks until a response comes, 128 MiB are sent or 20 s pass */
    enum { CHUNK = 65536 };
    static char chunk[CHUNK + 16];
    int hl = snprintf(chunk, 16, "%x\r\n", CHUNK);
    memset(chunk + hl, ' ', CHUNK);
    memcpy(chunk + hl + CHUNK, "\r\n", 2);
    size_t clen = (size_t)hl + CHUNK + 2, off = 0;
    unsigned long long sent = 0, limit_sent = 128ull << 20;
    double t0 = now_ms(), t_resp = -1;
    buf b = {0};
    int eof = 0;
    while (sent < limit_sent && now_ms() - t0 < 20000 && !eof) {
        struct pollfd pf = {fd, POLLIN | POLLOUT, 0};
        poll(&pf, 1, 100);
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            char tmp[4096];
            ssize_t r = recv(fd, tmp, sizeof tmp, 0);
            if (r > 0) buf_put(&b, tmp, (size_t)r);
            else if (r == 0 || (errno != EAGAIN && errno != EINTR)) eof = 1;
            if (t_resp < 0 && strstr(buf_str(&b), "\r\n\r\n")) break;
        }
        if (pf.revents & POLLOUT) {
            ssize_t w = send(fd, chunk + off, clen - off, MSG_NOSIGNAL);
            if (w > 0) {
                sent += (unsigned long long)w;
                off = (off + (size_t)w) % clen;
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                eof = 1;
            }
        }
    }
    double ms = now_ms() - t0;
    /* the rest of the 413 and the close */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    int closed = raw_read_all(fd, &b, 5000);
    close(fd);
    if (raw_status(&b) != 413)
        note(&problems, "after %llu bytes in %.0f ms: got \"%.120s\", want 413 limit_exceeded", sent, ms, buf_str(&b));
    if (sent > (64ull << 20))
        note(&problems, "%llu MiB were sent before any answer (limit 1 MiB): the body was read past the limit",
             sent >> 20);
    if (!closed) note(&problems, "the connection stayed open 5 s after the 413");
    buf_free(&b);
    if (http_status(f->d.port, "/healthz", 5000) != 200) note(&problems, "/healthz after the 413: no 200");
    printf("# chunked over the limit: 413 after %.1f MiB sent, %.0f ms\n", (double)sent / (1 << 20), ms);
    fail_if_problems(&problems);
}

/* ====================================================================== */
/* 5. static files                                                         */

static char web_root[256];   /* made in main(): index.html, a.js, links out */
static char outside[256];    /* a directory beside it with a secret */
static const cfg CFG_WEB = {"hardening-web", {"--workers", "1", "--web-root", web_root, NULL}};

static void write_file(const char *dir, const char *name, const char *text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (!fp) abort();
    fputs(text, fp);
    fclose(fp);
}

static void make_web_root(void) {
    snprintf(web_root, sizeof web_root, "/tmp/gradd-hardening-%d/web", (int)getpid());
    snprintf(outside, sizeof outside, "/tmp/gradd-hardening-%d/outside", (int)getpid());
    char top[256];
    snprintf(top, sizeof top, "/tmp/gradd-hardening-%d", (int)getpid());
    mkdir(top, 0755);
    mkdir(web_root, 0755);
    mkdir(outside, 0755);
    write_file(web_root, "index.html", "<!doctype html><title>t</title>\n");
    write_file(web_root, "a.js", "export const a = 1;\n");
    write_file(outside, "secret.txt", "the secret\n");
    char link[512], target[512];
    snprintf(link, sizeof link, "%s/leak.txt", web_root);
    snprintf(target, sizeof target, "%s/secret.txt", outside);
    if (symlink(target, link) < 0 && errno != EEXIST) abort();
    snprintf(link, sizeof link, "%s/out", web_root);
    if (symlink(outside, link) < 0 && errno != EEXIST) abort();
}

static void remove_web_root(void) {
    char path[512];
    const char *files[] = {"web/index.html", "web/a.js", "web/leak.txt", "web/out", "outside/secret.txt"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "/tmp/gradd-hardening-%d/%s", (int)getpid(), files[i]);
        unlink(path);
    }
    rmdir(web_root);
    rmdir(outside);
    snprintf(path, sizeof path, "/tmp/gradd-hardening-%d", (int)getpid());
    rmdir(path);
}

static void test_static_files(void **state) {
    fixture *f = *state;
    int port = f->d.port;
    buf problems = {0};
    resp r;
    const char *links[] = {"/leak.txt", "/out/secret.txt"};
    for (int i = 0; i < 2; i++) {
        http(&r, port, "GET", links[i], NULL, NULL, 5000);
        if (!resp_ok(&r) || r.status != 404 || strstr(r.body, "the secret"))
            note(&problems, "GET %s (a symbolic link out of the web root): %ld, want 404", links[i], r.status);
        resp_free(&r);
    }
    http(&r, port, "GET", "/", NULL, NULL, 5000);
    char v[512], etag[128] = "";
    if (!resp_ok(&r) || r.status != 200) note(&problems, "GET /: %ld, want 200", r.status);
    if (!hdr(&r, "X-Content-Type-Options", v, sizeof v) || strcmp(v, "nosniff"))
        note(&problems, "GET /: no X-Content-Type-Options: nosniff");
    if (!hdr(&r, "Content-Security-Policy", v, sizeof v) || !strstr(v, "default-src 'self'") ||
        !strstr(v, "frame-ancestors 'none'"))
        note(&problems, "GET /: Content-Security-Policy \"%s\", want default-src 'self' ... frame-ancestors 'none'", v);
    if (!hdr(&r, "Cache-Control", v, sizeof v) || !strstr(v, "no-cache"))
        note(&problems, "GET /: want Cache-Control: no-cache");
    if (!hdr(&r, "ETag", etag, sizeof etag)) note(&problems, "GET /: no ETag");
    if (!hdr(&r, "Last-Modified", v, sizeof v)) note(&problems, "GET /: no Last-Modified");
    resp_free(&r);
    if (etag[0]) { /* revalidation: unchanged, so 304 with no body */
        char inm[160];
        snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
        const char *h[] = {inm, NULL};
        http(&r, port, "GET", "/", NULL, h, 5000);
        if (!resp_ok(&r) || r.status != 304 || r.body_len) note(&problems, "If-None-Match: %ld, want 304", r.status);
        resp_free(&r);
    }
    http(&r, port, "GET", "/a.js", NULL, NULL, 5000);
    if (!resp_ok(&r) || r.status != 200 || !strstr(r.body, "export")) note(&problems, "GET /a.js: %ld", r.status);
    else expect_header_has(&r, "Content-Type", "text/javascript");
    resp_free(&r);
    printf("# static files: links refused; nosniff, CSP, no-cache with ETag (304 on revalidation)\n");
    fail_if_problems(&problems);
}

/* ====================================================================== */
/* 6. keep-alive on GET routes answered from their headers                 */

static void test_keep_alive(void **state) {
    fixture *f = *state;
    buf problems = {0};
    const char *paths[] = {"/healthz", "/readyz", "/metrics", "/", "/a.js", "/no-such-file"};
    const int want[] = {200, 200, 200, 200, 200, 404};
    int fd = raw_connect(f->d.port);
    assert_true(fd >= 0);
    int served = 0;
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
            char req[256];
            snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: t\r\n\r\n", paths[i]);
            buf b = {0};
            int got = raw_sends(fd, req) == 0 ? raw_read_response(fd, &b, 5000) : -1;
            if (got != 1 || raw_status(&b) != want[i]) {
                note(&problems, "request %d (GET %s) on one connection: %s", served + 1, paths[i],
                     got == -1 ? "the connection was closed" : got == 0 ? "no answer in 5 s" : buf_str(&b));
                buf_free(&b);
                round = 2;
                break;
            }
            if (strcasestr(buf_str(&b), "\r\nConnection: close"))
                note(&problems, "GET %s answered with Connection: close", paths[i]);
            served++;
            buf_free(&b);
        }
    close(fd);
    printf("# keep-alive: %d GETs on one connection\n", served);
    fail_if_problems(&problems);
}

/* ====================================================================== */
/* 7. API keys with blanks                                                 */

static const cfg CFG_KEYS = {"hardening-keys", {"--workers", "1", "--api-keys", "k1, k2 ,k3", NULL}};

static void test_api_keys_trimmed(void **state) {
    fixture *f = *state;
    buf problems = {0};
    const char *keys[] = {"k1", "k2", "k3", "k4", " k2"};
    const int want[] = {200, 200, 200, 401, 401};
    for (int i = 0; i < 5; i++) {
        char auth[64];
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", keys[i]);
        const char *h[] = {auth, NULL};
        resp r;
        http(&r, f->d.port, "POST", "/v1/gradient", SUM_PRODUCT, h, 5000);
        if (!resp_ok(&r) || r.status != want[i])
            note(&problems, "--api-keys \"k1, k2 ,k3\", Bearer \"%s\": %ld, want %d", keys[i], r.status, want[i]);
        resp_free(&r);
    }
    printf("# API keys: blanks around each key trimmed\n");
    fail_if_problems(&problems);
}

int main(void) {
    char v[16];
    snprintf(v, sizeof v, "%d", HEADER_TIMEOUT_S);
    setenv("GRADD_HEADER_TIMEOUT_S", v, 1);
    snprintf(v, sizeof v, "%d", BODY_TIMEOUT_S);
    setenv("GRADD_BODY_TIMEOUT_S", v, 1);
    snprintf(v, sizeof v, "%d", MIN_BODY_RATE);
    setenv("GRADD_MIN_BODY_RATE", v, 1);
    make_web_root();
    const struct CMUnitTest tests[] = {
        T(test_slowloris, CFG_SLOW),
        T(test_slow_body, CFG_SLOW),
        T(test_log_injection, CFG_TEXT),
        T(test_mhd_rejections, CFG_JSON),
        T(test_header_limit, CFG_HEADER_LIMIT),
        T(test_header_limit_default, CFG_HEADER_DEFAULT),
        T(test_header_limit_given, CFG_HEADER_BIG),
        T(test_chunked_over_limit, CFG_CHUNKED),
        T(test_static_files, CFG_WEB),
        T(test_keep_alive, CFG_WEB),
        T(test_api_keys_trimmed, CFG_KEYS),
    };
    int rc = HARNESS_MAIN("test_hardening", tests);
    remove_web_root();
    return rc;
}

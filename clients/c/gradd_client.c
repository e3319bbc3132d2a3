/* gradd_client.c -- the libcurl client of gradd_client.h. The contracts
 * are in the header; the notes here say how. */
#define _POSIX_C_SOURCE 200809L
#include "gradd_client.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* A graph the client uploaded or was told of, kept to upload again when a
 * replica answers graph_not_found. */
typedef struct known_graph {
    char ref[72];             /* "sha256:<64 hex>" */
    char ctype[64];           /* its Content-Type line */
    char *bytes;              /* (len) owned */
    size_t len;
    struct known_graph *next;
} known_graph;

struct gradd_client {
    CURL *h;
    char *url;     /* base URL without a trailing '/' */
    char *auth;    /* "Authorization: Bearer ..." or NULL */
    long timeout_ms;
    int retries;            /* attempts after the first (the header's "Retries") */
    long backoff_ms;        /* before the first retry, doubled for each further one */
    long max_backoff_ms;    /* at most this, before jitter */
    uint32_t jitter;        /* xorshift32 state for the waits' jitter, never 0 */
    known_graph *graphs; /* (list) for re-uploads */
};

/* A growable NUL-terminated byte string; on allocation failure it stops
 * growing and remembers the failure (the write callback then fails the
 * transfer). */
typedef struct grow {
    char *p;
    size_t len, cap;
    int oom;
} grow;

static int grow_put(grow *g, const void *s, size_t n) {
    if (g->oom) return -1;
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap : 256;
        while (cap < g->len + n + 1) cap *= 2;
        char *np = realloc(g->p, cap);
        if (!np) {
            g->oom = 1;
            return -1;
        }
        g->p = np;
        g->cap = cap;
    }
    if (n) memcpy(g->p + g->len, s, n);
    g->len += n;
    g->p[g->len] = '\0';
    return 0;
}

static double mono_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

int gradd_global_init(void) { return curl_global_init(CURL_GLOBAL_ALL) == CURLE_OK ? 0 : -1; }

void gradd_global_cleanup(void) { curl_global_cleanup(); }

gradd_client *gradd_client_new(const char *base_url, const char *api_key, long timeout_ms) {
    if (!base_url || strlen(base_url) > 1024) return NULL;
    gradd_client *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->url = dup_str(base_url);
    if (c->url) {
        size_t n = strlen(c->url);
        while (n && c->url[n - 1] == '/') c->url[--n] = '\0';
    }
    if (api_key && *api_key) {
        size_t n = strlen(api_key) + sizeof "Authorization: Bearer ";
        c->auth = malloc(n);
        if (c->auth) snprintf(c->auth, n, "Authorization: Bearer %s", api_key);
    }
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : GRADD_DEFAULT_TIMEOUT_MS;
    c->retries = GRADD_DEFAULT_RETRIES;
    c->backoff_ms = GRADD_DEFAULT_BACKOFF_MS;
    c->max_backoff_ms = GRADD_DEFAULT_MAX_BACKOFF_MS;
    c->jitter = (uint32_t)((uintptr_t)c >> 4) ^ (uint32_t)(mono_ms() * 1e3) ^ 0x9e3779b9u;
    if (!c->jitter) c->jitter = 1;
    c->h = curl_easy_init();
    if (!c->url || !c->h || (api_key && *api_key && !c->auth)) {
        gradd_client_free(c);
        return NULL;
    }
    return c;
}

void gradd_client_free(gradd_client *c) {
    if (!c) return;
    if (c->h) curl_easy_cleanup(c->h);
    while (c->graphs) {
        known_graph *g = c->graphs;
        c->graphs = g->next;
        free(g->bytes);
        free(g);
    }
    free(c->url);
    free(c->auth);
    free(c);
}

const char *gradd_client_url(const gradd_client *c) { return c->url; }

int gradd_client_set_retries(gradd_client *c, int retries, long backoff_ms, long max_backoff_ms) {
    if (!c || retries < 0 || backoff_ms < 0 || max_backoff_ms < 0) return -1;
    c->retries = retries;
    c->backoff_ms = backoff_ms;
    c->max_backoff_ms = max_backoff_ms;
    return 0;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud) {
    return grow_put(ud, p, sz * n) == 0 ? sz * n : 0;
}

/* Headers of every response arrive here (a 100 Continue, then the final
 * one): a status line starts the collection over, so the final response's
 * headers are what is left. The status line itself is not kept. */
static size_t on_header(char *p, size_t sz, size_t n, void *ud) {
    grow *g = ud;
    size_t len = sz * n;
    if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
        g->len = 0;
        if (g->p) g->p[0] = '\0';
        return len;
    }
    return grow_put(g, p, len) == 0 ? len : 0;
}

static void fail_out(gradd_response *out, int code, const char *msg) {
    out->transport = code;
    snprintf(out->error, sizeof out->error, "%s", msg);
}

int gradd_request(gradd_client *c, const char *method, const char *path, const void *body, size_t body_len,
                  const char *const *headers, long timeout_ms, gradd_response *out) {
    memset(out, 0, sizeof *out);
    grow b = {0}, hd = {0};
    int rc = -1;
    struct curl_slist *hl = NULL;
    char *url = NULL;
    if (!c || !method || !path) {
        fail_out(out, CURLE_BAD_FUNCTION_ARGUMENT, "gradd_request: no client, method or path");
        goto done;
    }
    long tmo = timeout_ms > 0 ? timeout_ms : c->timeout_ms;
    size_t ulen = strlen(c->url) + strlen(path) + 1;
    url = malloc(ulen);
    if (!url) {
        fail_out(out, CURLE_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    snprintf(url, ulen, "%s%s", c->url, path);

    CURL *h = c->h;
    curl_easy_reset(h); /* options go back to defaults; the connection cache stays */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L); /* timeouts without SIGALRM: safe in threads */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, tmo);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, tmo < GRADD_CONNECT_TIMEOUT_MS ? tmo : GRADD_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &hd);

    int has_ct = 0, has_auth = 0;
    for (int i = 0; headers && headers[i]; i++) {
        hl = curl_slist_append(hl, headers[i]);
        if (!strncasecmp(headers[i], "Content-Type:", 13)) has_ct = 1;
        if (!strncasecmp(headers[i], "Authorization:", 14)) has_auth = 1;
    }
    if (c->auth && !has_auth) hl = curl_slist_append(hl, c->auth);
    hl = curl_slist_append(hl, "Expect:"); /* no 100-continue round trip */
    if (body && !has_ct) hl = curl_slist_append(hl, "Content-Type: application/json");
    if (!hl) {
        fail_out(out, CURLE_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    }
    if (strcmp(method, body ? "POST" : "GET")) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD")) curl_easy_setopt(h, CURLOPT_NOBODY, 1L);

    double t0 = mono_ms();
    CURLcode cc = curl_easy_perform(h);
    out->ms = mono_ms() - t0;
    if (b.oom || hd.oom) {
        fail_out(out, CURLE_OUT_OF_MEMORY, "out of memory for the response");
    } else if (cc != CURLE_OK) {
        fail_out(out, (int)cc, curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &out->status);
        rc = 0;
    }

done:
    curl_slist_free_all(hl);
    free(url);
    if (!b.oom && !b.p) grow_put(&b, "", 0);
    if (!hd.oom && !hd.p) grow_put(&hd, "", 0);
    out->body = b.p ? b.p : calloc(1, 1);
    out->body_len = b.p ? b.len : 0;
    out->headers = hd.p ? hd.p : calloc(1, 1);
    out->headers_len = hd.p ? hd.len : 0;
    if (!out->body || !out->headers) abort(); /* one byte: nothing sensible is left to do */
    out->attempts = 1;
    return rc;
}

/* ---- retries -------------------------------------------------------- */

/* Whether a transport failure means the request got no answer, so that
 * sending it again is the same as sending it once: the connection was
 * refused, the name did not resolve, or the connection broke (before or
 * during the answer). A timeout is not one of them. */
static int no_answer(int curl_code) {
    switch (curl_code) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        return 1;
    default:
        return 0;
    }
}

/* A response's Retry-After in ms (delay-seconds, a decimal fraction
 * allowed), or -1 when it has none or not a number of seconds (gradd never
 * sends the HTTP-date form). */
static double retry_after_ms(const gradd_response *r) {
    char v[64];
    if (!gradd_response_header(r, "Retry-After", v, sizeof v) || !v[0]) return -1;
    char *end;
    double sec = strtod(v, &end);
    if (end == v || *end || !(sec >= 0 && sec <= 1e9)) return -1; /* NaN and inf fail too */
    return sec * 1e3;
}

/* The wait in ms before retry number attempt (1 = the first): the doubling
 * backoff capped at max_backoff_ms plus up to 25% jitter, or ra_ms (a
 * Retry-After, -1 for none) when that is longer, capped at
 * GRADD_MAX_RETRY_AFTER_MS. */
static double retry_wait_ms(gradd_client *c, int attempt, double ra_ms) {
    double wait = (double)c->backoff_ms;
    for (int k = 1; k < attempt && wait < (double)c->max_backoff_ms; k++) wait *= 2;
    if (wait > (double)c->max_backoff_ms) wait = (double)c->max_backoff_ms;
    c->jitter ^= c->jitter << 13;
    c->jitter ^= c->jitter >> 17;
    c->jitter ^= c->jitter << 5;
    wait += wait * 0.25 * ((double)c->jitter / 4294967296.0);
    if (ra_ms > wait) wait = ra_ms < (double)GRADD_MAX_RETRY_AFTER_MS ? ra_ms : (double)GRADD_MAX_RETRY_AFTER_MS;
    return wait;
}

static void sleep_ms(double ms) {
    long long ns = (long long)(ms * 1e6);
    struct timespec ts = {(time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

int gradd_send(gradd_client *c, const char *method, const char *path, const void *body, size_t body_len,
               const char *const *headers, long timeout_ms, gradd_response *out) {
    double t0 = mono_ms();
    for (int attempt = 1;; attempt++) {
        int rc = gradd_request(c, method, path, body, body_len, headers, timeout_ms, out);
        out->attempts = attempt;
        int again = c && attempt <= c->retries && (rc == 0 ? out->status == 503 : no_answer(out->transport));
        if (!again) {
            out->ms = mono_ms() - t0;
            return rc;
        }
        double wait = retry_wait_ms(c, attempt, rc == 0 ? retry_after_ms(out) : -1);
        gradd_response_free(out);
        sleep_ms(wait);
    }
}

int gradd_post(gradd_client *c, const char *route, const char *json, gradd_response *out) {
    char path[160];
    if (!route || strlen(route) > 120) {
        memset(out, 0, sizeof *out);
        return gradd_request(NULL, NULL, NULL, NULL, 0, NULL, 0, out);
    }
    snprintf(path, sizeof path, "/v1/%s", route);
    double t0 = mono_ms();
    int rc = gradd_send(c, "POST", path, json ? json : "", json ? strlen(json) : 0, NULL, 0, out);
    if (rc != 0 || out->status != 404 || !strstr(out->body, "\"graph_not_found\"") || !json) return rc;
    /* a replica without the graph: upload it there (when this client knows it) and send once more */
    known_graph *g = c->graphs;
    while (g && !strstr(json, g->ref)) g = g->next;
    if (!g) return rc;
    const char *hdrs[] = {g->ctype, NULL};
    gradd_response up;
    int urc = gradd_send(c, "POST", "/v1/graphs", g->bytes, g->len, hdrs, 0, &up);
    int ok = urc == 0 && (up.status == 200 || up.status == 201);
    gradd_response_free(&up);
    if (!ok) return rc; /* the graph_not_found answer stands */
    int sent = out->attempts;
    gradd_response_free(out);
    rc = gradd_send(c, "POST", path, json, strlen(json), NULL, 0, out);
    out->attempts += sent;
    out->ms = mono_ms() - t0;
    return rc;
}

int gradd_remember_graph(gradd_client *c, const char *ref, const void *bytes, size_t len, const char *content_type) {
    if (!c || !ref || strlen(ref) != 71 || strncmp(ref, "sha256:", 7) || (!bytes && len)) return -1;
    for (known_graph *k = c->graphs; k; k = k->next)
        if (!strcmp(k->ref, ref)) return 0;
    known_graph *g = calloc(1, sizeof *g);
    if (!g || !(g->bytes = malloc(len ? len : 1))) {
        free(g);
        return -1;
    }
    if (len) memcpy(g->bytes, bytes, len);
    g->len = len;
    snprintf(g->ref, sizeof g->ref, "%s", ref);
    snprintf(g->ctype, sizeof g->ctype, "Content-Type: %s", content_type ? content_type : "application/json");
    g->next = c->graphs;
    c->graphs = g;
    return 0;
}

int gradd_upload_graph(gradd_client *c, const void *bytes, size_t len, const char *content_type, char ref[72],
                       gradd_response *out) {
    char ct[96];
    snprintf(ct, sizeof ct, "Content-Type: %s", content_type ? content_type : "application/json");
    const char *hdrs[] = {ct, NULL};
    if (ref) ref[0] = '\0';
    int rc = gradd_send(c, "POST", "/v1/graphs", bytes, len, hdrs, 0, out);
    if (rc != 0 || (out->status != 200 && out->status != 201)) return rc;
    const char *at = strstr(out->body, "\"ref\":\"sha256:"); /* the answer's first member */
    if (!at || strlen(at + 7) < 71) return rc;
    char got[72];
    memcpy(got, at + 7, 71);
    got[71] = '\0';
    if (ref) memcpy(ref, got, sizeof got);
    if (gradd_remember_graph(c, got, bytes, len, content_type) < 0) return -1;
    return rc;
}

int gradd_forward(gradd_client *c, const char *json, gradd_response *out) { return gradd_post(c, "forward", json, out); }
int gradd_gradient(gradd_client *c, const char *json, gradd_response *out) { return gradd_post(c, "gradient", json, out); }
int gradd_step(gradd_client *c, const char *json, gradd_response *out) { return gradd_post(c, "step", json, out); }
int gradd_jvp(gradd_client *c, const char *json, gradd_response *out) { return gradd_post(c, "jvp", json, out); }
int gradd_hvp(gradd_client *c, const char *json, gradd_response *out) { return gradd_post(c, "hvp", json, out); }
int gradd_check(gradd_client *c, const char *json, gradd_response *out) { return gradd_post(c, "check", json, out); }
int gradd_gradient_graph(gradd_client *c, const char *json, gradd_response *out) {
    return gradd_post(c, "gradient-graph", json, out);
}

int gradd_ops(gradd_client *c, gradd_response *out) {
    return gradd_send(c, "GET", "/v1/ops", NULL, 0, NULL, 0, out);
}

int gradd_get_status(gradd_client *c, const char *path, long timeout_ms) {
    gradd_response r;
    int rc = gradd_request(c, "GET", path, NULL, 0, NULL, timeout_ms, &r);
    int st = rc == 0 ? (int)r.status : -1;
    gradd_response_free(&r);
    return st;
}

int gradd_response_header(const gradd_response *r, const char *name, char *out, size_t cap) {
    int count = 0;
    size_t nlen = strlen(name);
    if (out && cap) out[0] = '\0';
    for (const char *l = r->headers ? r->headers : ""; *l;) {
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

void gradd_response_free(gradd_response *r) {
    if (!r) return;
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof *r);
}

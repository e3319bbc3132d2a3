/* gradd_client.h -- a small libcurl client for gradd (C11).
 *
 * One gradd_client is one libcurl handle: it keeps its connection open
 * between requests and is NOT thread-safe (use one client per thread).
 * Every request has a total timeout and a connect timeout; nothing waits
 * forever. Bodies are bytes: the client does not parse JSON (the response
 * body is handed back as it came, NUL-terminated).
 *
 * Retries. Every gradd route is a pure function of its request (the daemon
 * keeps nothing between requests), so a request that got no answer
 * (connection refused, reset, or closed before an answer) or a 503 (the
 * daemon's queue or memory budget was full) is safe to send again. The
 * route functions (gradd_post, gradd_gradient, ...), gradd_upload_graph,
 * gradd_ops and gradd_send do so up to `retries` times after the first
 * attempt (GRADD_DEFAULT_RETRIES unless gradd_client_set_retries says
 * otherwise), waiting backoff_ms * 2^(k-1) before retry k (at most
 * max_backoff_ms, plus up to 25% jitter), or the 503's Retry-After when
 * that is longer (at most GRADD_MAX_RETRY_AFTER_MS). A timeout is not
 * retried (the same request would take as long), nor is any other status.
 * gradd_request and gradd_get_status make one attempt, always.
 *
 *   gradd_global_init();
 *   gradd_client *c = gradd_client_new("http://localhost:8080", NULL, 10000);
 *   gradd_response r;
 *   if (gradd_gradient(c, "{\"graph\": \"(a+b)*(b+1)\", \"inputs\": {\"a\": 2, \"b\": 1}}", &r) == 0)
 *       printf("%ld %s\n", r.status, r.body);     // 200 {"values":{"f":6},...}
 *   gradd_response_free(&r);
 *   gradd_client_free(c);
 *   gradd_global_cleanup();
 */
#ifndef GRADD_CLIENT_H
#define GRADD_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The timeout a client gets when it is created with timeout_ms <= 0. */
#define GRADD_DEFAULT_TIMEOUT_MS 30000L
/* The connect timeout is the request timeout, but never more than this. */
#define GRADD_CONNECT_TIMEOUT_MS 5000L
/* The retry policy a new client has (see "Retries" above). */
#define GRADD_DEFAULT_RETRIES 4
#define GRADD_DEFAULT_BACKOFF_MS 50L
#define GRADD_DEFAULT_MAX_BACKOFF_MS 2000L
/* A 503's Retry-After is honoured up to this wait. */
#define GRADD_MAX_RETRY_AFTER_MS 30000L

typedef struct gradd_client gradd_client;

/* What one request got back. */
typedef struct gradd_response {
    long status;        /* the HTTP status of the final response; 0 when none came */
    int transport;      /* 0, or the libcurl error (CURLcode) that stopped the request */
    char error[256];    /* "" or what went wrong in transport, for people */
    char *body;         /* the body, NUL-terminated (never NULL after a request) */
    size_t body_len;    /* its length in bytes (the body may hold NULs) */
    char *headers;      /* the header lines of the final response, "Name: value\r\n" each */
    size_t headers_len;
    double ms;          /* wall time of the request, all its attempts and the waits between them */
    int attempts;       /* how many times it was sent: 1, or more when it was retried */
} gradd_response;

/* Initialise libcurl for the process. Call once, before any thread makes a
 * client. 0 on success, -1 on failure. */
int gradd_global_init(void);

/* Release what gradd_global_init took. Call once, after every client is
 * freed. */
void gradd_global_cleanup(void);

/* A client for the daemon at base_url ("http://host:port", no trailing
 * path needed; a trailing '/' is dropped). api_key: NULL or "" for none,
 * otherwise sent as "Authorization: Bearer <api_key>" on every request.
 * timeout_ms: the total time allowed for one request (<= 0: the default,
 * GRADD_DEFAULT_TIMEOUT_MS). The strings are copied. NULL when out of
 * memory, when base_url is NULL or longer than 1 KiB, or when libcurl
 * cannot make a handle. */
gradd_client *gradd_client_new(const char *base_url, const char *api_key, long timeout_ms);

/* Close the client's connection and free it. NULL is allowed. */
void gradd_client_free(gradd_client *c);

/* The base URL the client was made with (without a trailing '/'). */
const char *gradd_client_url(const gradd_client *c);

/* Set the client's retry policy (see "Retries" above): retries attempts
 * after the first (0: never retry), backoff_ms before the first retry,
 * doubled for each further one up to max_backoff_ms. 0, or -1 (the policy
 * unchanged) when a value is negative. */
int gradd_client_set_retries(gradd_client *c, int retries, long backoff_ms, long max_backoff_ms);

/* One request. method: "GET", "POST", "OPTIONS", ... path: starts with '/'
 * and is appended to the base URL. body: NULL for none, else body_len
 * bytes (a POST with a body gets "Content-Type: application/json" unless
 * headers give a Content-Type). headers: NULL or a NULL-terminated list of
 * extra "Name: value" lines; an "Authorization:" line there replaces the
 * client's API key. timeout_ms <= 0: the client's timeout.
 *
 * One attempt, never retried (gradd_send retries).
 *
 * Fills *out (always: free it with gradd_response_free). Returns 0 when a
 * response came back, whatever its status; -1 when none did (out->transport
 * and out->error say why: refused, timed out, ...). */
int gradd_request(gradd_client *c, const char *method, const char *path, const void *body, size_t body_len,
                  const char *const *headers, long timeout_ms, gradd_response *out);

/* gradd_request, sent again per the client's retry policy (see "Retries"
 * above) while no answer came or the answer is a 503; *out is the last
 * attempt's (out->attempts counts them). Returns as gradd_request. */
int gradd_send(gradd_client *c, const char *method, const char *path, const void *body, size_t body_len,
               const char *const *headers, long timeout_ms, gradd_response *out);

/* POST the JSON text json (NUL-terminated) to /v1/<route> with the client's
 * timeout. route: "forward", "gradient", "step", "jvp", "hvp", "check" or
 * "gradient-graph" (not checked: the daemon answers 404 to others).
 * Retried per the client's policy; a 404 graph_not_found for a graph ref
 * the client knows (gradd_upload_graph, gradd_remember_graph) uploads the
 * graph and sends the request once more. Returns as gradd_request. */
int gradd_post(gradd_client *c, const char *route, const char *json, gradd_response *out);

/* The routes of the API, each gradd_post with its route. */
int gradd_forward(gradd_client *c, const char *json, gradd_response *out);
int gradd_gradient(gradd_client *c, const char *json, gradd_response *out);
int gradd_step(gradd_client *c, const char *json, gradd_response *out);
int gradd_jvp(gradd_client *c, const char *json, gradd_response *out);
int gradd_hvp(gradd_client *c, const char *json, gradd_response *out);
int gradd_check(gradd_client *c, const char *json, gradd_response *out);
int gradd_gradient_graph(gradd_client *c, const char *json, gradd_response *out);

/* GET /v1/ops, the catalogue (retried per the client's policy). Returns as
 * gradd_request. */
int gradd_ops(gradd_client *c, gradd_response *out);

/* POST /v1/graphs: keep a graph in the daemon's graph store. bytes: an
 * ONNX model (content_type "application/onnx") or a long-form graph object
 * ("application/json", or NULL). On a 200 or 201 answer, ref (72 bytes,
 * may be NULL) gets its "sha256:<hex>" and the client remembers the graph:
 * a later gradd_post whose JSON names that ref and that a replica answers
 * 404 graph_not_found uploads the graph there and is sent once more, by
 * itself. Retried per the client's policy. Returns as gradd_request. */
int gradd_upload_graph(gradd_client *c, const void *bytes, size_t len, const char *content_type, char ref[72],
                       gradd_response *out);
/* Remember a graph under its ref (as another replica answered it) without
 * uploading it, for the re-upload above. 0, or -1 (a bad ref, out of memory). */
int gradd_remember_graph(gradd_client *c, const char *ref, const void *bytes, size_t len, const char *content_type);

/* GET path, one attempt (a probe: never retried); the HTTP status, or -1
 * when no response came (timeout_ms <= 0: the client's timeout). */
int gradd_get_status(gradd_client *c, const char *path, long timeout_ms);

/* The value of the first header called name (case-insensitive), with
 * surrounding blanks trimmed, copied into out (cap bytes, truncated,
 * NUL-terminated; out may be NULL). Returns how many such headers the
 * response has (0: none, out is ""). */
int gradd_response_header(const gradd_response *r, const char *name, char *out, size_t cap);

/* Free what a request put into r and zero it. Safe to call twice, and on a
 * zeroed gradd_response. */
void gradd_response_free(gradd_response *r);

#ifdef __cplusplus
}
#endif

#endif

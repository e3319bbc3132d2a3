/* fuzz_request.c -- libFuzzer harness for the whole JSON API: one input is
 * one request to gd_handle under tight limits, and every response is
 * checked against the API's contract.
 *
 * Input layout:
 *   - a first byte that cannot start a JSON text (anything but '{', '[',
 *     '"', whitespace) picks the route: routes[byte % 7]; the rest is the
 *     body;
 *   - an input that starts like JSON (the seeds: the request.json of every
 *     golden case) is the body as a whole, and the route is guessed from
 *     the keys it mentions ("tangents" -> jvp, "optimizer" -> step, ...),
 *     so the golden requests reach the route they were written for.
 *
 * Invariants (any failure aborts with the response on stderr):
 *   - gd_handle fills a NUL-terminated body of exactly len bytes;
 *   - the status is 200, 400, 413, 422 or 504, or 404 graph_not_found for a
 *     graph named by a ref (no store here; every route here is known);
 *   - the body is valid JSON (jansson, duplicate keys rejected: gradd's own
 *     reader rejects them, so its responses must not have them);
 *   - an error body is exactly {"error", "code", "path"}, all strings; the
 *     error is non-empty, the code is [a-z_]+ and not an internal one, the
 *     path is "" or a well-formed JSON pointer ("/..." with ~ only in ~0
 *     and ~1); 413 goes with the limit codes and limit_exceeded with 413;
 *   - an error path names a member of the request, or a missing member of
 *     an object the request has (a required attribute also when the node
 *     has no "attrs"), unless the request is not JSON or the error is a
 *     missing_field or missing_value (which name where the field belongs);
 *   - a body gradd calls invalid JSON is one jansson cannot read either
 *     (bodies holding a NUL byte aside: jansson stops reading at one).
 *
 * GD_FUZZ_SKIP (environment) turns checks off while a known bug is being
 * fixed, so fuzzing can go on past it: a comma-separated list of
 * dup_keys, path_exists, json_diff, and terminate (pass the body with a
 * NUL after it, hiding reads past its end).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const routes[] = {"forward", "gradient", "step", "jvp", "hvp", "check", "gradient-graph"};
#define NROUTES ((int)(sizeof routes / sizeof routes[0]))

static gd_limits lim;
static int skip_dup_keys, skip_path_exists, skip_json_diff, terminate;

static int has_word(const char *list, const char *w) {
    size_t n = strlen(w);
    for (const char *p = list; p && (p = strstr(p, w)); p += n)
        if ((p == list || p[-1] == ',') && (p[n] == '\0' || p[n] == ',')) return 1;
    return 0;
}

static void init(void) {
    gd_init();
    lim = gd_limits_default();
    lim.max_body_bytes = 1 << 20;
    lim.max_depth = 64;
    lim.max_nodes = 2000;
    lim.max_rank = 8;
    lim.max_elements = 4096;
    lim.max_total_bytes = 1 << 20;
    lim.max_expr_len = 4096;
    lim.max_steps = 8;
    lim.max_check_elements = 64;
    const char *skip = getenv("GD_FUZZ_SKIP");
    skip_dup_keys = has_word(skip, "dup_keys");
    skip_path_exists = has_word(skip, "path_exists");
    skip_json_diff = has_word(skip, "json_diff");
    terminate = has_word(skip, "terminate");
}

static void die(const char *what, const char *route, const gd_response *r) {
    fprintf(stderr, "fuzz_request: %s (route %s, status %d)\n%.*s\n", what, route, r->status,
            (int)(r->len > 4000 ? 4000 : r->len), r->body ? r->body : "(null)");
    abort();
}

/* Does data[0..size) contain the text w? */
static int mentions(const uint8_t *data, size_t size, const char *w) {
    size_t n = strlen(w);
    for (size_t i = 0; i + n <= size; i++)
        if (data[i] == (uint8_t)w[0] && !memcmp(data + i, w, n)) return 1;
    return 0;
}

static const char *guess_route(const uint8_t *data, size_t size) {
    if (mentions(data, size, "\"tangents\"")) return "jvp";
    if (mentions(data, size, "\"vector\"")) return "hvp";
    if (mentions(data, size, "\"optimizer\"") || mentions(data, size, "\"batches\"") ||
        mentions(data, size, "\"steps\"") || mentions(data, size, "\"state\""))
        return "step";
    if (mentions(data, size, "\"eps\"")) return "check";
    if (mentions(data, size, "\"wrt\"")) return "gradient";
    return "forward";
}

static int json_start(uint8_t c) { return c == '{' || c == '[' || c == '"' || c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/* Longest path handled here (gradd's are shorter); a longer one is not
 * well formed. */
#define PATH_CAP 8192

/* Decode one JSON pointer token (up to the next '/' or the end) into tok.
 * 0 when it is not well formed. */
static int pointer_token(const char **p, char *tok, size_t cap) {
    size_t n = 0;
    const char *q = *p;
    while (*q && *q != '/') {
        char c = *q++;
        if (c == '~') {
            if (*q == '0') c = '~';
            else if (*q == '1') c = '/';
            else return 0;
            q++;
        }
        if (n + 1 >= cap) return 0;
        tok[n++] = c;
    }
    tok[n] = '\0';
    *p = q;
    return 1;
}

static int pointer_well_formed(const char *path) {
    if (!*path) return 1;
    if (*path != '/') return 0;
    char tok[PATH_CAP];
    const char *p = path;
    while (*p == '/') {
        p++;
        if (!pointer_token(&p, tok, sizeof tok)) return 0;
    }
    return *p == '\0';
}

/* The value path points at in doc, or NULL. *parent gets the value that
 * holds the last token (NULL when a token before the last is missing). */
static json_t *resolve(json_t *doc, const char *path, json_t **parent) {
    json_t *v = doc;
    char tok[PATH_CAP];
    const char *p = path;
    *parent = NULL;
    while (*p == '/' && v) {
        p++;
        if (!pointer_token(&p, tok, sizeof tok)) return NULL;
        *parent = v;
        if (json_is_object(v)) {
            v = json_object_get(v, tok);
        } else if (json_is_array(v)) {
            char *end;
            unsigned long i = strtoul(tok, &end, 10);
            if (!*tok || *end || (tok[0] == '0' && tok[1])) return NULL;
            v = json_array_get(v, i);
        } else {
            return NULL;
        }
    }
    if (*p) *parent = NULL; /* a token before the last is missing */
    return v;
}

/* Does path name a member of doc, or a missing member of an object doc
 * has (a missing field), or an attribute of a node whose optional "attrs"
 * object is missing (a required attribute)? */
static int path_in(json_t *doc, const char *path) {
    json_t *parent;
    if (resolve(doc, path, &parent) || json_is_object(parent)) return 1;
    const char *last = strrchr(path, '/');
    size_t n = (size_t)(last - path);
    if (n < 6 || n >= PATH_CAP || memcmp(last - 6, "/attrs", 6)) return 0;
    char prefix[PATH_CAP];
    memcpy(prefix, path, n);
    prefix[n] = '\0';
    return !resolve(doc, prefix, &parent) && json_is_object(parent);
}

static int code_ok(const char *c) {
    if (!*c) return 0;
    for (const char *q = c; *q; q++)
        if (!((*q >= 'a' && *q <= 'z') || *q == '_')) return 0;
    /* codes that only an internal sequencing bug can produce */
    return strcmp(c, "internal") && strcmp(c, "bad_state") && strcmp(c, "unknown") && strcmp(c, "ok");
}

static int limit_code(const char *c) {
    return !strcmp(c, "limit_exceeded") || !strcmp(c, "size_overflow") || !strcmp(c, "out_of_memory");
}

static void check(const char *route, const char *body, size_t len, const gd_response *r) {
    if (!r->body) die("no body", route, r);
    if (r->body[r->len] != '\0' || memchr(r->body, '\0', r->len)) die("body length and NUL disagree", route, r);
    int st = r->status;
    if (st != 200 && st != 400 && st != 413 && st != 422 && st != 504 &&
        !(st == 404 && strstr(r->body, "\"code\":\"graph_not_found\"")))
        die("unexpected status", route, r);
    json_error_t je;
    /* integers as reals: 1e19 prints as 10000000000000000000, valid JSON
     * that jansson's integers cannot hold */
    json_t *res = json_loadb(r->body, r->len, JSON_DECODE_INT_AS_REAL | (skip_dup_keys ? 0 : JSON_REJECT_DUPLICATES), &je);
    if (!res) {
        fprintf(stderr, "jansson: %s at column %d\n", je.text, je.column);
        die("the response is not valid JSON", route, r);
    }
    if (!json_is_object(res)) die("the response is not an object", route, r);
    if (st == 200) {
        if (json_object_get(res, "error")) die("a 200 response with an error", route, r);
        if (!json_is_object(json_object_get(res, "stats"))) die("a 200 response without stats", route, r);
        json_decref(res);
        return;
    }
    const json_t *err = json_object_get(res, "error"), *code = json_object_get(res, "code"),
                 *path = json_object_get(res, "path");
    if (json_object_size(res) != 3 || !json_is_string(err) || !json_is_string(code) || !json_is_string(path))
        die("an error body is not exactly {error, code, path} strings", route, r);
    const char *c = json_string_value(code), *p = json_string_value(path);
    if (!json_string_length(err)) die("an empty error message", route, r);
    if (!code_ok(c)) die("a bad error code", route, r);
    if (!pointer_well_formed(p)) die("the path is not a JSON pointer", route, r);
    if ((st == 413) != limit_code(c)) die("413 and the limit codes disagree", route, r);
    if ((st == 504) != !strcmp(c, "cancelled")) die("504 and cancelled disagree", route, r);
    int not_json = !strcmp(c, "invalid_json") || !strcmp(c, "duplicate_key") ||
                   (st == 413 && strstr(json_string_value(err), "nests deeper"));
    if ((!strcmp(c, "invalid_json") || !strcmp(c, "duplicate_key")) && st != 400)
        die("a JSON syntax error that is not a 400", route, r);
    if (!strcmp(c, "invalid_json") && !skip_json_diff && !memchr(body, '\0', len)) {
        json_t *doc = json_loadb(body, len,
                                 JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        if (doc) {
            json_decref(doc);
            die("gradd calls valid JSON invalid", route, r);
        }
    }
    if (*p && !not_json && !skip_path_exists) {
        json_t *doc = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        int missing = !strcmp(c, "missing_field") || !strcmp(c, "missing_value");
        if (doc) {
            if (!missing && !path_in(doc, p)) {
                json_decref(doc);
                fprintf(stderr, "path %s\n", p);
                die("the error path names nothing in the request", route, r);
            }
            json_decref(doc);
        }
    }
    json_decref(res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        init();
        ready = 1;
    }
    const char *route;
    const uint8_t *b = data;
    size_t len = size;
    if (size > 0 && !json_start(data[0])) {
        route = routes[data[0] % NROUTES];
        b++;
        len--;
    } else {
        route = guess_route(data, size);
    }
    /* an exact-size copy: reading past len is caught (the body need not be
     * terminated) */
    char *body = malloc(terminate ? len + 1 : len);
    if (!body && (len || terminate)) return 0;
    if (len) memcpy(body, b, len);
    if (terminate) body[len] = '\0';
    gd_response r;
    gd_handle(route, body, len, &lim, &r);
    check(route, body, len, &r);
    gd_response_free(&r);
    free(body);
    return 0;
}

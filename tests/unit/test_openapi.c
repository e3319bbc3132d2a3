/* test_openapi.c -- api/openapi.yaml against the API it describes, and the
 * YAML converter (api/openapi.c) the daemon serves it through.
 *
 * The description: it is OpenAPI 3.1 with every route; every $ref
 * resolves; every request example of every POST /v1/<route> gets, from
 * gd_handle, the status it expects (200 or its x-expect-status); each
 * route has examples that succeed and examples that fail; a 200 response
 * has exactly the top-level keys its schema lists (an optional one may be
 * absent, but each turns up in some example) and the stats Stats lists;
 * every request example has a response example of the same name under
 * that status, and the response matches it (structure exactly, numbers
 * within 1e-9, error code and path exactly); every field a request schema
 * lists is one the
 * route takes, and the fields of the other routes are ones it refuses; the
 * op enum is lib's op table and the Attrs schema its attribute table, so
 * neither can fall behind. The working directory is the repo root. */
#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api.h"
#include "openapi.h"
#include "spec.h"

#define SPEC_PATH "api/openapi.yaml"

/* The routes that take a body, from the API's route table (load_routes). */
static const char *post_routes[64];

static void load_routes(void) {
    int n = 0;
    for (int i = 0; i < gd_route_count() && n < 63; i++) /* the graph store's take a graph, not a request */
        if (gd_route_has_body(gd_route_name(i)) && !gd_route_spec_at(i)->store) post_routes[n++] = gd_route_name(i);
    post_routes[n] = NULL;
}

static json_t *spec; /* the description, loaded once */

/* ---- helpers --------------------------------------------------------- */

/* The value at a local JSON pointer ("#/components/schemas/Error"), or NULL. */
static json_t *at_pointer(const char *ref) {
    if (strncmp(ref, "#/", 2) != 0) return NULL;
    json_t *v = spec;
    const char *p = ref + 1;
    while (v && *p == '/') {
        char tok[256];
        size_t n = 0;
        for (p++; *p && *p != '/' && n + 1 < sizeof tok; p++) {
            if (*p == '~' && (p[1] == '0' || p[1] == '1')) tok[n++] = *++p == '0' ? '~' : '/';
            else tok[n++] = *p;
        }
        tok[n] = '\0';
        v = json_is_array(v) ? json_array_get(v, (size_t)strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    }
    return *p ? NULL : v;
}

/* v with its $ref followed (a few levels at most), or NULL. */
static json_t *deref(json_t *v) {
    for (int i = 0; i < 8 && v; i++) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (!ref) return v;
        v = at_pointer(ref);
    }
    return NULL;
}

/* Follow keys from v (each through deref): get(v, "a", "b", NULL). */
static json_t *get(json_t *v, ...) {
    va_list ap;
    va_start(ap, v);
    for (const char *k = va_arg(ap, const char *); k && v; k = va_arg(ap, const char *)) v = deref(json_object_get(deref(v), k));
    va_end(ap);
    return v;
}

static json_t *operation(const char *route, const char *method) {
    char path[64];
    snprintf(path, sizeof path, "/v1/%s", route);
    return get(spec, "paths", path, method, NULL);
}

static json_t *response_schema(const char *route, const char *status) {
    return get(operation(route, "post"), "responses", status, "content", "application/json", "schema", NULL);
}

static int in_array_of_strings(const json_t *a, const char *s) {
    size_t i;
    json_t *x;
    json_array_foreach(a, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), s)) return 1;
    return 0;
}

/* Call gd_handle with v as the body; the parsed response (NULL if it is
 * not JSON) and its status. */
static json_t *handle(const char *route, const json_t *v, int *status) {
    char *body = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
    assert_true(!v || body);
    gd_response res;
    gd_handle(route, body, body ? strlen(body) : 0, NULL, &res);
    json_error_t je;
    json_t *out = json_loadb(res.body, res.len, 0, &je);
    *status = res.status;
    gd_response_free(&res);
    free(body);
    return out;
}

/* want (an example) and got (a response) agree: same structure, strings
 * and booleans equal, numbers within 1e-9 (absolute or relative). The top
 * level's "stats" is compared by keys only (its timings vary). On a
 * difference, where gets the JSON pointer and a note. */
static int same(const json_t *want, const json_t *got, int top, char *where, size_t cap) {
    size_t at = strlen(where);
    if (json_is_number(want) && json_is_number(got)) {
        double a = json_number_value(want), b = json_number_value(got);
        if (fabs(a - b) <= 1e-9 * fmax(1, fmax(fabs(a), fabs(b)))) return 1;
        snprintf(where + at, cap - at, " (example %.17g, response %.17g)", json_number_value(want), b);
        return 0;
    }
    if (json_typeof(want) != json_typeof(got)) {
        snprintf(where + at, cap - at, " (types differ)");
        return 0;
    }
    if (json_is_array(want)) {
        if (json_array_size(want) != json_array_size(got)) {
            snprintf(where + at, cap - at, " (lengths %zu and %zu)", json_array_size(want), json_array_size(got));
            return 0;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(where + at, cap - at, "/%zu", i);
            if (!same(json_array_get(want, i), json_array_get(got, i), 0, where, cap)) return 0;
            where[at] = '\0';
        }
        return 1;
    }
    if (json_is_object(want)) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)got, k, v) if (!json_object_get(want, k)) {
            snprintf(where + at, cap - at, "/%s (only in the response)", k);
            return 0;
        }
        json_object_foreach((json_t *)want, k, v) {
            snprintf(where + at, cap - at, "/%s", k);
            json_t *g = json_object_get(got, k);
            if (!g) {
                strncat(where, " (only in the example)", cap - strlen(where) - 1);
                return 0;
            }
            if (top && !strcmp(k, "stats")) {
                const char *k2;
                json_t *v2;
                json_object_foreach(v, k2, v2) if (!json_object_get(g, k2)) return 0;
                if (json_object_size(v) != json_object_size(g)) return 0;
            } else if (!same(v, g, 0, where, cap)) {
                return 0;
            }
            where[at] = '\0';
        }
        return 1;
    }
    if (!json_equal(want, got)) {
        snprintf(where + at, cap - at, " (values differ)");
        return 0;
    }
    return 1;
}

/* Keys of a 200 response against its schema: each key a listed property
 * (or "stats"), each required property present, stats exactly Stats. */
static int keys_match_schema(const json_t *res, json_t *schema, char *why, size_t cap) {
    json_t *props = json_object_get(schema, "properties"), *req = json_object_get(schema, "required");
    const char *k;
    json_t *v;
    if (!json_is_object(props)) return snprintf(why, cap, "the response schema lists no properties"), 0;
    json_object_foreach((json_t *)res, k, v) if (!json_object_get(props, k) && strcmp(k, "stats")) {
        snprintf(why, cap, "key \"%s\" is not in the response schema", k);
        return 0;
    }
    json_object_foreach(props, k, v) {
        if (!json_object_get(res, k) && in_array_of_strings(req, k)) {
            snprintf(why, cap, "the response lacks \"%s\", which the schema requires", k);
            return 0;
        }
        if (!json_object_get(res, k) && !json_is_array(req)) {
            snprintf(why, cap, "the response lacks \"%s\"", k);
            return 0;
        }
    }
    json_t *stats = json_object_get(res, "stats"), *sp = get(spec, "components", "schemas", "Stats", "properties", NULL);
    if (!stats || !sp || json_object_size(stats) != json_object_size(sp)) return snprintf(why, cap, "stats differ from Stats"), 0;
    json_object_foreach(stats, k, v) if (!json_object_get(sp, k)) return snprintf(why, cap, "stats.%s is not in Stats", k), 0;
    return 1;
}

/* ---- the description ------------------------------------------------- */

static int load_spec(void **state) {
    (void)state;
    char err[256];
    spec = srv_openapi_load(SPEC_PATH, err, sizeof err);
    if (!spec) fprintf(stderr, "%s: %s (run from the repo root)\n", SPEC_PATH, err);
    return spec ? 0 : -1;
}

static int free_spec(void **state) {
    (void)state;
    json_decref(spec);
    spec = NULL;
    return 0;
}

static void test_openapi_31_with_every_route(void **state) {
    (void)state;
    const char *v = json_string_value(json_object_get(spec, "openapi"));
    assert_non_null(v);
    assert_true(!strncmp(v, "3.1.", 4));
    assert_string_equal(json_string_value(get(spec, "info", "title", NULL)), "gradd");
    assert_string_equal(json_string_value(get(spec, "info", "version", NULL)), "0.1.0");
    assert_non_null(json_string_value(get(spec, "info", "description", NULL)));
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(spec, "servers"), 0), "url")),
                        "http://localhost:8080");
    static const char *const statuses[] = {"200", "400", "401", "405", "413", "415", "422", "503", "504", NULL};
    for (const char *const *r = post_routes; *r; r++) {
        assert_true(gd_route_known(*r) && gd_route_has_body(*r));
        json_t *op = operation(*r, "post");
        if (!op) fail_msg("POST /v1/%s is missing", *r);
        assert_non_null(get(op, "requestBody", "content", "application/json", "schema", NULL));
        for (const char *const *s = statuses; *s; s++) {
            json_t *res = get(op, "responses", *s, NULL);
            if (!res || !json_is_string(json_object_get(res, "description")))
                fail_msg("POST /v1/%s documents no %s response", *r, *s);
            if (strcmp(*s, "200") && !get(res, "content", "application/json", "schema", "properties", "code", NULL))
                fail_msg("the %s response of /v1/%s is not an Error", *s, *r);
        }
        assert_non_null(get(op, "responses", "503", "headers", "Retry-After", NULL));
        assert_null(operation(*r, "get"));
    }
    assert_true(gd_route_known("ops") && !gd_route_has_body("ops"));
    assert_non_null(get(operation("ops", "get"), "responses", "200", "content", "application/json", "schema", NULL));
    /* and the other way: every /v1 path of the description is a route of the table */
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(spec, "paths"), path, item)
        if (!strncmp(path, "/v1/", 4) && !gd_route_known(path + 4))
            fail_msg("openapi.yaml documents %s, which is no route of api/handle.c's table", path);
    static const char *const daemon[] = {"/healthz", "/readyz", "/v2/health/live", "/v2/health/ready", "/metrics",
                                         "/openapi.json", NULL};
    for (const char *const *p = daemon; *p; p++)
        if (!get(spec, "paths", *p, "get", "responses", "200", NULL)) fail_msg("GET %s is missing", *p);
    static const char *const schemas[] = {"Graph", "GraphObject", "Node", "Shape", "Tensor", "Stats", "Error",
                                          "Optimizer", "OptimizerState", "ForwardRequest", "ForwardResponse",
                                          "GradientRequest", "GradientResponse", "StepRequest", "StepResponse",
                                          "JvpRequest", "JvpResponse", "HvpRequest", "HvpResponse", "CheckRequest",
                                          "CheckResponse", "GradientGraphRequest", "GradientGraphResponse",
                                          "OpsResponse", NULL};
    for (const char *const *s = schemas; *s; s++)
        if (!get(spec, "components", "schemas", *s, NULL)) fail_msg("components/schemas/%s is missing", *s);
    /* the one-of schemas */
    assert_int_equal(json_array_size(get(spec, "components", "schemas", "Graph", "oneOf", NULL)), 2);
    assert_int_equal(json_array_size(get(spec, "components", "schemas", "Node", "oneOf", NULL)), 2);
    assert_int_equal(json_array_size(get(spec, "components", "schemas", "Tensor", "oneOf", NULL)), 6); /* with binary */
    /* the Error schema is the API's error object */
    json_t *ep = get(spec, "components", "schemas", "Error", "properties", NULL);
    assert_int_equal(json_object_size(ep), 3);
    assert_non_null(json_object_get(ep, "error"));
    assert_non_null(json_object_get(ep, "code"));
    assert_non_null(json_object_get(ep, "path"));
}

/* Every "$ref" anywhere in v resolves (recursive: the document is shallow). */
static int count_refs(json_t *v, int *bad) {
    int n = 0;
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            if (!strcmp(k, "$ref") && json_is_string(x)) {
                n++;
                if (!at_pointer(json_string_value(x))) {
                    printf("# unresolved $ref %s\n", json_string_value(x));
                    (*bad)++;
                }
            } else {
                n += count_refs(x, bad);
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) n += count_refs(x, bad);
    }
    return n;
}

static void test_refs_resolve(void **state) {
    (void)state;
    int bad = 0, n = count_refs(spec, &bad);
    assert_true(n > 50);
    assert_int_equal(bad, 0);
}

/* ---- the examples against gd_handle ---------------------------------- */

static void test_request_examples(void **state) {
    (void)state;
    int total = 0, failures = 0;
    for (const char *const *r = post_routes; *r; r++) {
        json_t *op = operation(*r, "post");
        json_t *exs = get(op, "requestBody", "content", "application/json", "examples", NULL);
        json_t *schema200 = response_schema(*r, "200");
        assert_non_null(schema200);
        int ok_examples = 0, error_examples = 0;
        json_t *seen = json_object(); /* top-level keys of the 200 responses */
        const char *name;
        json_t *ex;
        json_object_foreach(exs, name, ex) {
            json_t *value = json_object_get(ex, "value"), *xs = json_object_get(ex, "x-expect-status");
            int want = xs ? (int)json_integer_value(xs) : 200, status;
            char where[512] = "", why[256] = "";
            total++;
            if (!value) {
                printf("# /v1/%s example %s has no value\n", *r, name);
                failures++;
                continue;
            }
            if (xs && !(json_is_integer(xs) && want >= 400 && want < 500)) {
                printf("# /v1/%s example %s: x-expect-status must be a 4xx integer\n", *r, name);
                failures++;
                continue;
            }
            if (want == 200) ok_examples++;
            else error_examples++;
            json_t *res = handle(*r, value, &status);
            char st[8];
            snprintf(st, sizeof st, "%d", want);
            json_t *rex = get(op, "responses", st, "content", "application/json", "examples", name, "value", NULL);
            char *text = res ? json_dumps(res, JSON_COMPACT) : NULL;
            if (!res || status != want) {
                printf("# /v1/%s example %s: want %d, got %d %s\n", *r, name, want, status, text ? text : "(not JSON)");
                failures++;
            } else if (want == 200 && !keys_match_schema(res, deref(schema200), why, sizeof why)) {
                printf("# /v1/%s example %s: %s in %s\n", *r, name, why, text);
                failures++;
            } else if (want != 200 && (json_object_size(res) != 3 || !json_is_string(json_object_get(res, "error")))) {
                printf("# /v1/%s example %s: not an error object: %s\n", *r, name, text);
                failures++;
            } else if (!rex) {
                printf("# /v1/%s example %s: no response example of that name under %d\n", *r, name, want);
                failures++;
            } else if (want == 200 && !same(rex, res, 1, where, sizeof where)) {
                printf("# /v1/%s example %s: the response differs from its example at %s: %s\n", *r, name, where,
                       text);
                failures++;
            } else if (want != 200 && (!json_equal(json_object_get(rex, "code"), json_object_get(res, "code")) ||
                                       !json_equal(json_object_get(rex, "path"), json_object_get(res, "path")))) {
                printf("# /v1/%s example %s: the error differs from its example: %s\n", *r, name, text);
                failures++;
            }
            if (res && status == 200) json_object_update(seen, res);
            free(text);
            json_decref(res);
        }
        /* exactly: every property the schema lists turns up in some example */
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(deref(schema200), "properties"), k, v) if (!json_object_get(seen, k)) {
            printf("# /v1/%s: no example's response has \"%s\", which the response schema lists\n", *r, k);
            failures++;
        }
        json_decref(seen);
        if (ok_examples == 0 || error_examples == 0) {
            printf("# /v1/%s needs a request example that succeeds and one that fails (%d, %d)\n", *r, ok_examples,
                   error_examples);
            failures++;
        }
    }
    printf("# %d request examples, %d failed\n", total, failures);
    assert_int_equal(failures, 0);
    assert_true(total >= 14);
}

/* Every response example of a POST route (inline, not the shared ones)
 * belongs to a request example of the same name expecting that status. */
static void test_response_examples_have_requests(void **state) {
    (void)state;
    int orphans = 0, n = 0;
    for (const char *const *r = post_routes; *r; r++) {
        json_t *op = operation(*r, "post");
        json_t *reqs = get(op, "requestBody", "content", "application/json", "examples", NULL);
        const char *st;
        json_t *res;
        json_object_foreach(get(op, "responses", NULL), st, res) {
            if (json_object_get(res, "$ref")) continue;
            const char *name;
            json_t *ex;
            json_object_foreach(get(res, "content", "application/json", "examples", NULL), name, ex) {
                json_t *req = json_object_get(reqs, name), *xs = json_object_get(req, "x-expect-status");
                int want = xs ? (int)json_integer_value(xs) : 200;
                n++;
                if (!req || want != atoi(st)) {
                    printf("# /v1/%s: response example %s under %s has no request example expecting it\n", *r, name, st);
                    orphans++;
                }
            }
        }
    }
    assert_int_equal(orphans, 0);
    assert_true(n >= 14);
}

/* Each route takes the fields its request schema lists, and refuses the
 * fields only other routes take. A body of one field is enough: unknown
 * fields are refused before anything else is read. */
static void test_request_fields(void **state) {
    (void)state;
    json_t *all = json_object();
    for (const char *const *r = post_routes; *r; r++)
        json_object_update(all, get(operation(*r, "post"), "requestBody", "content", "application/json", "schema",
                                    "properties", NULL));
    assert_true(json_object_size(all) >= 15);
    int bad = 0;
    for (const char *const *r = post_routes; *r; r++) {
        json_t *props = get(operation(*r, "post"), "requestBody", "content", "application/json", "schema", "properties", NULL);
        assert_non_null(props);
        assert_true(json_object_size(props) >= 4);
        const char *k;
        json_t *v;
        json_object_foreach(all, k, v) {
            json_t *body = json_pack("{s:i}", k, 0);
            int status;
            json_t *res = handle(*r, body, &status);
            char ptr[64];
            snprintf(ptr, sizeof ptr, "/%s", k);
            int refused = status == 400 && !strcmp(json_string_value(json_object_get(res, "code")), "unknown_field") &&
                          !strcmp(json_string_value(json_object_get(res, "path")), ptr);
            if (refused == (json_object_get(props, k) != NULL)) {
                printf("# /v1/%s %s \"%s\", but its schema %s it\n", *r, refused ? "refuses" : "takes", k,
                       refused ? "lists" : "does not list");
                bad++;
            }
            json_decref(res);
            json_decref(body);
        }
    }
    json_decref(all);
    assert_int_equal(bad, 0);
}

/* Each route spec (api/spec.c) is its OpenAPI operation: the path
 * /v1/<name> with the spec's method, a request schema whose properties are
 * exactly the spec's fields, each of the JSON type the field's type reads;
 * and no /v1/ path without a spec. */
static void test_route_specs_are_the_description(void **state) {
    (void)state;
    int bad = 0, fields = 0;
    for (int i = 0; i < gd_route_count(); i++) {
        const gd_route_spec *rs = gd_route_spec_at(i);
        char method[8];
        snprintf(method, sizeof method, "%s", rs->method);
        for (char *c = method; *c; c++) *c = (char)(*c - 'A' + 'a');
        json_t *op = operation(rs->name, method);
        if (!op) {
            printf("# /v1/%s has no %s operation in openapi.yaml\n", rs->name, rs->method);
            bad++;
            continue;
        }
        if (!rs->handler) continue; /* no body */
        json_t *props = get(op, "requestBody", "content", "application/json", "schema", "properties", NULL);
        if (!props || (int)json_object_size(props) != rs->nfields) {
            printf("# /v1/%s: the spec has %d fields, its request schema %zu\n", rs->name, rs->nfields,
                   props ? json_object_size(props) : 0);
            bad++;
        }
        for (int k = 0; k < rs->nfields; k++) {
            const gd_field_spec *f = &rs->fields[k];
            json_t *ps = deref(json_object_get(props, f->name));
            const char *want = gd_field_json_type(f->type), *type = json_string_value(json_object_get(ps, "type"));
            fields++;
            if (!ps) {
                printf("# /v1/%s: the request schema lacks \"%s\"\n", rs->name, f->name);
                bad++;
            } else if (want && type && strcmp(want, type)) {
                printf("# /v1/%s \"%s\": the spec reads %s, the schema says %s\n", rs->name, f->name, want, type);
                bad++;
            } else if (want && !type && !json_object_get(ps, "oneOf")) {
                printf("# /v1/%s \"%s\": the schema gives no type\n", rs->name, f->name);
                bad++;
            }
        }
    }
    const char *path;
    json_t *v;
    json_object_foreach(json_object_get(spec, "paths"), path, v) {
        if (!strncmp(path, "/v1/", 4) && !gd_route_spec_find(path + 4)) {
            printf("# %s is described but has no route spec\n", path);
            bad++;
        }
    }
    printf("# %d route specs, %d fields: each spec's path, method, fields and their types are the description's\n",
           gd_route_count(), fields);
    assert_int_equal(bad, 0);
}

/* ---- the catalogue --------------------------------------------------- */

/* A bound of the Attrs schema s (key) against the table's: absent when the
 * table's bound is the int64 extreme, else the same number. */
static void bound_is(const json_t *s, const char *key, int64_t want, int64_t none, const char *name) {
    const json_t *v = json_object_get(s, key);
    if (want == none) {
        if (v) fail_msg("Attrs.%s has %s, the table none", name, key);
        return;
    }
    if (!json_is_integer(v) || json_integer_value(v) != want)
        fail_msg("Attrs.%s.%s is not the table's %lld", name, key, (long long)want);
}

/* The Attrs schema of one attribute says what its row says: the JSON type,
 * the range (of each entry for a list), the entry limit and the default. */
static void attr_schema_is_the_row(const json_t *s, const gr_attr_def *d) {
    static const char *const json_type[] = {[GR_ATTR_INT] = "integer", [GR_ATTR_INTS] = "array",
                                            [GR_ATTR_BOOL] = "boolean", [GR_ATTR_NUMBER] = "number",
                                            [GR_ATTR_STRING] = "string"};
    assert_non_null(s);
    if (strcmp(json_string_value(json_object_get(s, "type")), json_type[d->type]))
        fail_msg("Attrs.%s is not of type %s", d->name, json_type[d->type]);
    const json_t *ranged = d->type == GR_ATTR_INTS ? json_object_get(s, "items") : s;
    if (d->type == GR_ATTR_INT || d->type == GR_ATTR_INTS) {
        bound_is(ranged, "minimum", d->min, INT64_MIN, d->name);
        bound_is(ranged, "maximum", d->max, INT64_MAX, d->name);
    }
    if (d->type == GR_ATTR_INTS) bound_is(s, "maxItems", GR_MAX_RANK, INT64_MAX, d->name);
    if (d->choices) {
        const json_t *e = json_object_get(s, "enum");
        size_t n = 0;
        while (d->choices[n]) n++;
        if (json_array_size(e) != n) fail_msg("Attrs.%s's enum is not the table's choices", d->name);
        for (size_t i = 0; i < n; i++)
            if (!in_array_of_strings((json_t *)e, d->choices[i]))
                fail_msg("Attrs.%s's enum lacks %s", d->name, d->choices[i]);
    }
    if (d->def) {
        json_t *want = json_loads(d->def, JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        if (!json_equal(want, json_object_get(s, "default"))) fail_msg("Attrs.%s's default is not %s", d->name, d->def);
        json_decref(want);
    }
}

static void test_op_enum_is_the_op_table(void **state) {
    (void)state;
    json_t *ops = get(spec, "components", "schemas", "OpNode", "properties", "op", "enum", NULL);
    assert_true(json_is_array(ops));
    for (size_t i = 0; i < json_array_size(ops); i++) {
        const char *s = json_string_value(json_array_get(ops, i));
        assert_non_null(s);
        if (!gr_op_find(s)) fail_msg("the op enum lists \"%s\", which lib's table does not have", s);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(s, json_string_value(json_array_get(ops, j)))) fail_msg("the op enum lists \"%s\" twice", s);
    }
    for (int i = 0; i < gr_op_count(); i++)
        if (!in_array_of_strings(ops, gr_op_name(gr_op_at(i))))
            fail_msg("the op enum lacks \"%s\" of lib's table", gr_op_name(gr_op_at(i)));
    assert_int_equal(json_array_size(ops), gr_op_count());

    /* the attributes: the Attrs schema and the catalogue's attr names */
    json_t *attrs = get(spec, "components", "schemas", "Attrs", "properties", NULL);
    json_t *names = get(spec, "components", "schemas", "OpInfo", "properties", "attrs", "items", "properties", "name",
                        "enum", NULL);
    assert_int_equal(json_object_size(attrs), GR_ATTR_COUNT);
    assert_int_equal(json_array_size(names), GR_ATTR_COUNT);
    for (int a = 0; a < GR_ATTR_COUNT; a++) {
        if (!json_object_get(attrs, gr_attr_name(a))) fail_msg("Attrs lacks \"%s\"", gr_attr_name(a));
        if (!in_array_of_strings(names, gr_attr_name(a))) fail_msg("OpInfo's attr names lack \"%s\"", gr_attr_name(a));
        attr_schema_is_the_row(json_object_get(attrs, gr_attr_name(a)), gr_attr_def_of(a));
    }
}

static void test_ops_route(void **state) {
    (void)state;
    int status;
    json_t *res = handle("ops", NULL, &status);
    assert_int_equal(status, 200);
    assert_non_null(res);
    json_t *op = operation("ops", "get");
    json_t *schema = get(op, "responses", "200", "content", "application/json", "schema", NULL);
    const char *k;
    json_t *v;
    assert_int_equal(json_object_size(res), json_object_size(json_object_get(schema, "properties")));
    json_object_foreach(res, k, v) assert_non_null(json_object_get(json_object_get(schema, "properties"), k));
    json_t *ops = json_object_get(res, "ops");
    assert_int_equal(json_array_size(ops), gr_op_count());
    json_t *info = get(spec, "components", "schemas", "OpInfo", "properties", NULL);
    size_t i;
    json_t *entry;
    json_array_foreach(ops, i, entry) {
        assert_int_equal(json_object_size(entry), json_object_size(info));
        json_object_foreach(info, k, v) assert_non_null(json_object_get(entry, k));
    }
    /* the abridged example's entries are the real ones */
    int n = 0;
    json_t *exs = get(op, "responses", "200", "content", "application/json", "examples", NULL);
    const char *name;
    json_t *ex;
    json_object_foreach(exs, name, ex) {
        json_array_foreach(get(ex, "value", "ops", NULL), i, entry) {
            const char *opname = json_string_value(json_object_get(entry, "name"));
            json_t *real = NULL, *x;
            size_t j;
            json_array_foreach(ops, j, x) if (json_equal(json_object_get(x, "name"), json_object_get(entry, "name"))) real = x;
            if (!real || !json_equal(real, entry)) fail_msg("the ops example's entry \"%s\" is not the real one", opname);
            n++;
        }
    }
    assert_true(n >= 1);
    json_decref(res);
}

/* ---- the converter --------------------------------------------------- */

static json_t *yaml(const char *text) {
    char err[256];
    json_t *v = srv_openapi_json(text, strlen(text), err, sizeof err);
    if (!v) fail_msg("converting %s: %s", text, err);
    return v;
}

/* Converting text must fail with a message containing want. */
static void yaml_fails(const char *text, const char *want) {
    char err[256] = "untouched";
    json_t *v = srv_openapi_json(text, strlen(text), err, sizeof err);
    if (v) {
        char *s = json_dumps(v, JSON_ENCODE_ANY);
        json_decref(v);
        fail_msg("converting \"%s\" gave %s instead of an error with \"%s\"", text, s, want);
    }
    if (!strstr(err, want)) fail_msg("converting \"%s\": \"%s\" does not say \"%s\"", text, err, want);
}

static void expect_int(json_t *o, const char *key, json_int_t want) {
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) != want)
        fail_msg("%s: want the integer %lld", key, (long long)want);
}

static void expect_real(json_t *o, const char *key, double want) {
    json_t *v = json_object_get(o, key);
    if (!json_is_real(v) || json_real_value(v) != want) fail_msg("%s: want the real %.17g", key, want);
}

static void expect_str(json_t *o, const char *key, const char *want) {
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || strcmp(json_string_value(v), want)) fail_msg("%s: want the string \"%s\"", key, want);
}

static void test_yaml_scalars(void **state) {
    (void)state;
    json_t *v = yaml("n1: null\nn2: ~\nn3:\nn4: Null\nn5: NULL\n"
                     "t1: true\nt2: True\nt3: TRUE\nf1: false\nf2: FALSE\n"
                     "i1: 42\ni2: -17\ni3: +5\ni4: 012\ni5: 0o17\ni6: 0x1F\ni7: 0\ni8: -0\n"
                     "imax: 9223372036854775807\nimin: -9223372036854775808\n"
                     "r1: 1.5\nr2: .5\nr3: 5.\nr4: -1.25e-3\nr5: 1e3\nr6: +2.5E+2\nr7: 0.1\nr8: 007.50\n"
                     "rbig: 9223372036854775808\nrtiny: 4.9e-324\n"
                     "s1: hello world\ns2: '12'\ns3: \"true\"\ns4: yes\ns5: 1_000\ns6: 0b101\ns7: -0x1F\n"
                     "s8: 1.2.3\ns9: NaN\ns10: 'null'\ns11: \"\"\ns12: 0x\ns13: 0o8\ns14: '1e3'\ns15: Infinity\n"
                     "s16: \"caf\\u00e9 \\u263a\"\ns17: 12 monkeys\ns18: .\n"
                     "tag1: !!str 42\ntag2: !!int \"7\"\ntag3: !!float 1\ntag4: ! 3\ntag5: !!null ''\ntag6: !!bool TRUE\n"
                     "lit: |\n  two\n  lines\nfold: >\n  a\n  b\n");
    static const char *const nulls[] = {"n1", "n2", "n3", "n4", "n5", "tag5", NULL};
    for (const char *const *k = nulls; *k; k++)
        if (!json_is_null(json_object_get(v, *k))) fail_msg("%s: want null", *k);
    assert_true(json_is_true(json_object_get(v, "t1")) && json_is_true(json_object_get(v, "t2")) &&
                json_is_true(json_object_get(v, "t3")) && json_is_true(json_object_get(v, "tag6")));
    assert_true(json_is_false(json_object_get(v, "f1")) && json_is_false(json_object_get(v, "f2")));
    expect_int(v, "i1", 42);
    expect_int(v, "i2", -17);
    expect_int(v, "i3", 5);
    expect_int(v, "i4", 12);
    expect_int(v, "i5", 15);
    expect_int(v, "i6", 31);
    expect_int(v, "i7", 0);
    expect_int(v, "i8", 0);
    expect_int(v, "imax", 9223372036854775807LL);
    expect_int(v, "imin", -9223372036854775807LL - 1);
    expect_int(v, "tag2", 7);
    expect_real(v, "r1", 1.5);
    expect_real(v, "r2", 0.5);
    expect_real(v, "r3", 5.0);
    expect_real(v, "r4", -1.25e-3);
    expect_real(v, "r5", 1000.0);
    expect_real(v, "r6", 250.0);
    expect_real(v, "r7", 0.1);
    expect_real(v, "r8", 7.5);
    expect_real(v, "rbig", 9223372036854775808.0);
    expect_real(v, "rtiny", 4.9e-324);
    expect_real(v, "tag3", 1.0);
    expect_str(v, "s1", "hello world");
    expect_str(v, "s2", "12");
    expect_str(v, "s3", "true");
    expect_str(v, "s4", "yes");
    expect_str(v, "s5", "1_000");
    expect_str(v, "s6", "0b101");
    expect_str(v, "s7", "-0x1F");
    expect_str(v, "s8", "1.2.3");
    expect_str(v, "s9", "NaN");
    expect_str(v, "s10", "null");
    expect_str(v, "s11", "");
    expect_str(v, "s12", "0x");
    expect_str(v, "s13", "0o8");
    expect_str(v, "s14", "1e3");
    expect_str(v, "s15", "Infinity");
    expect_str(v, "s16", "caf\xc3\xa9 \xe2\x98\xba");
    expect_str(v, "s17", "12 monkeys");
    expect_str(v, "s18", ".");
    expect_str(v, "tag1", "42");
    expect_str(v, "tag4", "3");
    expect_str(v, "lit", "two\nlines\n");
    expect_str(v, "fold", "a b\n");
    assert_int_equal(json_object_size(v), 56);
    json_decref(v);

    /* a document that is one scalar, and one that is empty */
    v = yaml("3.25");
    assert_true(json_is_real(v) && json_real_value(v) == 3.25);
    json_decref(v);
    v = yaml("---\n");
    assert_true(json_is_null(v));
    json_decref(v);
}

static void test_yaml_nesting(void **state) {
    (void)state;
    json_t *v = yaml("# a comment\n"
                     "paths:\n"
                     "  /v1/forward:\n"
                     "    post:\n"
                     "      tags: [compute, 'x']\n"
                     "      responses:\n"
                     "        '200': {description: ok}\n"
                     "        404:\n"
                     "          description: not found\n"
                     "list:\n"
                     "  - a: 1\n"
                     "    b: [1, [2, [3, []]], {}]\n"
                     "  - - nested\n"
                     "    - 2\n"
                     "  -\n"
                     "empty: {}\n"
                     "\"quoted key\": [0.5]\n");
    json_t *want = json_loads("{\"paths\": {\"/v1/forward\": {\"post\": {\"tags\": [\"compute\", \"x\"], "
                              "\"responses\": {\"200\": {\"description\": \"ok\"}, \"404\": {\"description\": \"not found\"}}}}},"
                              "\"list\": [{\"a\": 1, \"b\": [1, [2, [3, []]], {}]}, [\"nested\", 2], null],"
                              "\"empty\": {}, \"quoted key\": [0.5]}",
                              0, NULL);
    assert_non_null(want);
    if (!json_equal(v, want)) {
        char *s = json_dumps(v, 0);
        fail_msg("got %s", s);
    }
    json_decref(want);
    json_decref(v);

    /* deep nesting costs no stack in the converter */
    enum { DEEP = 5000 };
    char *deep = malloc(2 * DEEP + 2);
    assert_non_null(deep);
    memset(deep, '[', DEEP);
    memset(deep + DEEP, ']', DEEP);
    deep[2 * DEEP] = '\0';
    v = yaml(deep);
    int depth = 0;
    for (json_t *x = v; json_is_array(x); x = json_array_get(x, 0)) depth++;
    assert_int_equal(depth, DEEP);
    json_decref(v);
    free(deep);

    /* the length bounds the text: it need not be terminated */
    char err[64];
    v = srv_openapi_json("a: 1zzz", 4, err, sizeof err);
    assert_non_null(v);
    expect_int(v, "a", 1);
    json_decref(v);
}

static void test_yaml_errors(void **state) {
    (void)state;
    yaml_fails("a: &x 1\nb: *x\n", "anchors and aliases");
    yaml_fails("a: &x 1\n", "anchors and aliases");
    yaml_fails("a: 1\nb: [1, 2\n", "line ");
    yaml_fails("a: 1\n  b: 2\n", "line 2");
    yaml_fails("a: 1\n---\nb: 2\n", "more than one YAML document");
    yaml_fails("a: 1\na: 2\n", "line 2, column 1: the key \"a\" appears twice");
    yaml_fails("? [1, 2]\n: x\n", "a key must be a scalar");
    yaml_fails("a: .inf\n", "not a number JSON can hold");
    yaml_fails("a: -.Inf\n", "not a number JSON can hold");
    yaml_fails("a: .nan\n", "not a number JSON can hold");
    yaml_fails("a: 1e999\n", "beyond the range");
    yaml_fails("a: 0xFFFFFFFFFFFFFFFFF\n", "does not fit in 64 bits");
    yaml_fails("a: !foo x\n", "not supported");
    yaml_fails("a: !!binary aGk=\n", "not supported");
    yaml_fails("a: !!int abc\n", "does not fit its tag");
    yaml_fails("a: !!map [1]\n", "not supported");
    yaml_fails("\"a\\0b\": 1\n", "NUL");
    yaml_fails("a: \xff\n", "byte");
    yaml_fails("", "no YAML document");
    yaml_fails("# only a comment\n", "no YAML document");
    yaml_fails("a: [1, 2]]\n", "line 1");
    /* no buffer for the message is allowed, and NULL text is the empty text */
    assert_null(srv_openapi_json("a: *x\n", 6, NULL, 0));
    char one[1] = {'z'};
    assert_null(srv_openapi_json("a: *x\n", 6, one, sizeof one));
    assert_int_equal(one[0], '\0');
    assert_null(srv_openapi_json(NULL, 0, NULL, 0));
}

int main(void) {
    gd_init();
    load_routes();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openapi_31_with_every_route),
        cmocka_unit_test(test_refs_resolve),
        cmocka_unit_test(test_request_examples),
        cmocka_unit_test(test_response_examples_have_requests),
        cmocka_unit_test(test_request_fields),
        cmocka_unit_test(test_route_specs_are_the_description),
        cmocka_unit_test(test_op_enum_is_the_op_table),
        cmocka_unit_test(test_ops_route),
        cmocka_unit_test(test_yaml_scalars),
        cmocka_unit_test(test_yaml_nesting),
        cmocka_unit_test(test_yaml_errors),
    };
    return cmocka_run_group_tests_name("openapi", tests, load_spec, free_spec);
}

/* doc.c -- see doc.h. */
#include "doc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/buf.h"

/* The API's keys with a meaning to the reader: base64 tensor text is read
 * straight from the body (base64 needs no decoding of JSON escapes, and a
 * backslash or control character is invalid base64 anyway); Triton's
 * binary tensors own bytes after the JSON in the order they appear. */
static const char *const span_keys[] = {"b64", NULL};
static const char *const record_keys[] = {"parameters", NULL};

int gd_doc_fail(gd_err *e, const cd_err *ce, const gd_doc_opts *o, size_t len) {
    switch (ce->kind) {
    case CD_OK: return 0;
    case CD_E_SYNTAX:
        return gd_fail(e, GD_E_INVALID_JSON, "", "the body is not valid JSON: %s", ce->message);
    case CD_E_DUPLICATE_KEY: return gd_fail(e, GD_E_DUPLICATE_KEY, ce->path, "%s", ce->message);
    case CD_E_UNKNOWN_ROOT_KEY:
        if (o->top_fields) return gd_field_allowed(ce->key, o->top_fields, "", o->top_what ? o->top_what : "", e);
        return gd_fail(e, GD_E_UNKNOWN_FIELD, ce->path, "%s", ce->message);
    case CD_E_KEY_LENGTH:
    case CD_E_DEPTH: return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "%s", ce->message);
    case CD_E_BUDGET:
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, ce->path,
                       "holding this body's JSON would take more than %lld bytes of memory, the limit for a body of "
                       "%zu bytes: send tensors as rectangular arrays of numbers, b64 or binary data",
                       (long long)o->max_bytes, len);
    case CD_E_NOMEM: return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "out of memory reading the body");
    case CD_E_CANCELLED:
        return gd_fail(e, GD_E_CANCELLED, "", "the request was cancelled while its body was being read");
    }
    return gd_fail(e, GD_E_INVALID_JSON, "", "the body is not valid JSON: %s", ce->message);
}

int gd_doc_parse(const char *body, size_t len, const gd_doc_opts *o, gd_doc *d, gd_err *e) {
    memset(d, 0, sizeof *d);
    cd_json_opts jo = {.max_depth = o->max_depth,
                       .max_bytes = o->max_bytes,
                       .root_keys = o->top_fields,
                       .span_keys = span_keys,
                       .record_keys = record_keys,
                       .cancel = o->cancel};
    cd_err ce;
    if (cd_json_parse(body, len, &jo, &d->json, &ce) < 0) return gd_doc_fail(e, &ce, o, len);
    return 0;
}

int gd_doc_record(const gd_doc *d, const json_t *v) {
    for (int i = 0; i < d->json.nrecords; i++)
        if (d->json.records[i] == v) return i;
    return -1;
}

void gd_doc_free(gd_doc *d) {
    cd_doc_free(&d->json);
    free(d->binoff);
    memset(d, 0, sizeof *d);
}

int gd_only_fields(const json_t *obj, const char *const *allowed, const char *path, const char *what, gd_err *e) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
        if (gd_field_allowed(key, allowed, path, what, e) < 0) return -1;
    return 0;
}

int gd_field_allowed(const char *key, const char *const *allowed, const char *path, const char *what, gd_err *e) {
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(*a, key)) return 1;
    char p[2048], list[512] = "";
    cd_join(p, sizeof p, path, "");
    gd_path_push(p, sizeof p, key);
    for (const char *const *a = allowed; *a; a++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
    return gd_fail(e, GD_E_UNKNOWN_FIELD, p, "unknown field \"%.64s\" in %s; it takes %s", key, what, list);
}

/* doc.h -- a request body as the API reads it: the codec's parse
 * (api/codec/json.h) with the API's options, its errors as gd_err, and
 * Triton's binary section laid out over the objects that hold
 * "parameters". Also the API's check of an object's fields. */
#ifndef GRADD_DOC_H
#define GRADD_DOC_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/json.h"
#include "err.h"

_Static_assert(CD_MAX_RANK == GR_MAX_RANK, "packed arrays are as deep as libgrad's tensors");

typedef struct gd_doc {
    cd_doc json;         /* the tree; json.records are the objects holding "parameters", in text order */
    const char *binary;  /* Triton's binary section, or NULL (set by gd_req_open) */
    char *binary_rw;     /* binary when the call lends it (gd_call.binary_writable): tensors are then
                            decoded in place where their bytes are their values; else NULL */
    int64_t *binoff;     /* (json.nrecords) where each record's bytes start in binary, or NULL */
    const struct gd_doc *also; /* a second tree whose values are read through this doc too (a stored
                                  graph a request names by "ref"), or NULL */
} gd_doc;

/* What the API asks of the reader besides the keys it fixes itself. */
typedef struct gd_doc_opts {
    int max_depth;                   /* nesting; < 1 means 1 */
    int64_t max_bytes;               /* the tree's memory budget; 0: unbounded */
    const char *const *top_fields;   /* keys the root object may have (NULL-terminated), or NULL: any */
    const char *top_what;            /* the root, in that error ("a /v1/forward request") */
    const volatile int *cancel;      /* may be NULL */
} gd_doc_opts;

/* Parse body[0..len) into *d: "b64" strings stay spans of the body,
 * objects holding "parameters" are recorded in text order. Returns 0, or
 * -1 with e set: 400 invalid_json (with line and column), 400
 * duplicate_key, 400 unknown_field (a root key not in top_fields), 413
 * limit_exceeded (depth, key length, memory), 504 cancelled. */
int gd_doc_parse(const char *body, size_t len, const gd_doc_opts *o, gd_doc *d, gd_err *e);

/* The codec's error ce, from reading a body of len bytes under o, as the
 * API's (the statuses, codes, paths and messages gd_doc_parse gives). */
int gd_doc_fail(gd_err *e, const cd_err *ce, const gd_doc_opts *o, size_t len);

/* The text of string v ("b64" values: a span of the body), its length in
 * *len; NULL when v is not a string. */
static inline const char *gd_doc_text(const gd_doc *d, const json_t *v, size_t *len) {
    const char *t = cd_doc_text(&d->json, v, len);
    if (d->also && t && t == json_string_value(v)) t = cd_doc_text(&d->also->json, v, len); /* a span there? */
    return t;
}

/* The packed data standing behind v, or NULL. */
static inline const cd_packed *gd_doc_packed(const gd_doc *d, const json_t *v) {
    const cd_packed *p = cd_doc_packed(&d->json, v);
    return p || !d->also ? p : cd_doc_packed(&d->also->json, v);
}

/* The index of object v in d->json.records (an object holding
 * "parameters"), or -1. */
int gd_doc_record(const gd_doc *d, const json_t *v);

void gd_doc_free(gd_doc *d);

/* 0 when every key of object obj is in allowed (NULL-terminated); else a
 * 400 unknown_field at path/<key> that names the key, where it was (what)
 * and what is accepted there, and -1. A typo must not pass silently. */
int gd_only_fields(const json_t *obj, const char *const *allowed, const char *path, const char *what, gd_err *e);
/* 1 when key is in allowed (NULL-terminated), else that error and -1. */
int gd_field_allowed(const char *key, const char *const *allowed, const char *path, const char *what, gd_err *e);

#endif

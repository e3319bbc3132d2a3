/* json.h -- the request reader. Structure becomes jansson values; every
 * rectangular array of at least GD_PACK_MIN numbers (a tensor, flat or
 * nested) is parsed straight into doubles and stands in the tree as an
 * empty array whose data gd_doc_packed finds. Strict RFC 8259: duplicate
 * keys, invalid UTF-8, NaN/Infinity literals, numbers beyond double range
 * and trailing text are errors. Iterative: nesting costs no stack. */
#ifndef GRADD_JSON_H
#define GRADD_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define GD_PACK_MIN 64

typedef struct gd_packed {
    const json_t *node;           /* the stand-in empty array */
    double *data;                 /* (n) row-major values */
    int rank;                     /* nesting depth of the array, >= 1 */
    int64_t dims[GR_MAX_RANK];    /* (rank) */
    int64_t n;
} gd_packed;

typedef struct gd_doc {
    json_t *root;
    gd_packed *packed;            /* (npacked), sorted by node after parsing */
    int npacked;
    size_t cap;
    /* Objects holding a "parameters" key, in the order they appear in the
     * text: Triton's binary tensors, whose bytes follow the JSON in that
     * order. binoff[i] is where object i's bytes start (set by the API). */
    const json_t **binrefs;       /* (nbinrefs) */
    int64_t *binoff;              /* (nbinrefs) */
    const char *binary;           /* the binary section those offsets are into */
    int nbinrefs;
    size_t bincap;
    /* "b64" strings stay in the body: a stand-in empty string in the tree,
     * the text here (base64 needs no decoding of JSON escapes, and a
     * backslash or control character is invalid base64 anyway). */
    struct gd_span { const json_t *node; const char *text; size_t len; } *spans; /* (nspans), sorted by node */
    int nspans;
    size_t spancap;
    int64_t bytes;                /* estimated memory the parse took (the tree and its tables) */
} gd_doc;

/* What a parse may do. The memory of the tree it builds (jansson values,
 * keys, strings, packed data and the parser's scratch, estimated from
 * jansson 2.14's allocations) is charged as it is built, so a hostile body
 * is refused after a bounded amount of work and memory, not after it has
 * taken gigabytes. */
typedef struct gd_json_opts {
    int max_depth;                  /* nesting; < 1 means 1 */
    int64_t max_bytes;              /* estimated tree bytes; 0: unbounded */
    const char *const *top_fields;  /* NULL-terminated keys the root object may
                                       have (checked before their values are
                                       read), or NULL: any */
    const char *top_what;           /* names the root in that error ("a /v1/forward request") */
    const volatile int *cancel;     /* stop with 504 cancelled once non-zero; may be NULL */
} gd_json_opts;

/* Parse s[0..len). Returns 0, or -1 with e set (400 invalid_json with line
 * and column, 400 unknown_field for a root key not in top_fields, 413
 * limit_exceeded for depth or memory, 504 cancelled). */
int gd_json_parse(const char *s, size_t len, const gd_json_opts *o, gd_doc *doc, gd_err *e);

/* The text of string v (a span of the body for "b64" values), its length
 * in *len; NULL when v is not a string. */
const char *gd_doc_text(const gd_doc *d, const json_t *v, size_t *len);

/* The packed data standing behind v, or NULL when v is an ordinary value. */
const gd_packed *gd_doc_packed(const gd_doc *d, const json_t *v);

void gd_doc_free(gd_doc *d);

/* 0 when every key of object obj is in allowed (NULL-terminated); else a
 * 400 unknown_field at path/<key> that names the key, where it was (what)
 * and what is accepted there, and -1. A typo must not pass silently. */
int gd_only_fields(const json_t *obj, const char *const *allowed, const char *path, const char *what, gd_err *e);
/* 1 when key is in allowed (NULL-terminated), else that error and -1. */
int gd_field_allowed(const char *key, const char *const *allowed, const char *path, const char *what, gd_err *e);

#endif

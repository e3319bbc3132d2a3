/* json.h -- the JSON reader. Structure becomes jansson values; every
 * rectangular array of at least CD_PACK_MIN numbers (a tensor, flat or
 * nested) is parsed straight into doubles and stands in the tree as an
 * empty array whose data cd_doc_packed finds. Strict RFC 8259: duplicate
 * keys, invalid UTF-8, NaN/Infinity literals, numbers beyond double range
 * and trailing text are errors. Iterative: nesting costs no stack.
 * The reader knows no field names: what it does for particular keys
 * (raw spans, recorded objects, allowed root keys) comes from the
 * caller's cd_json_opts. */
#ifndef CD_JSON_H
#define CD_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define CD_PACK_MIN 64  /* numbers an array needs to be packed */
#define CD_MAX_RANK 8   /* nesting of a packed array; deeper ones stay jansson arrays */
#define CD_ADOPT_MIN 4096 /* numbers from which a packed array keeps the parser's buffer (no copy) */

/* The numbers of a packed array live in a block counted by reference: the
 * doc holds one reference, and a reader that keeps the numbers (a tensor
 * decoded from them) takes another instead of copying them, so they
 * outlive cd_doc_free until the last holder lets go. The numbers are
 * shared: a holder that writes into them changes what every other holder
 * (the doc's readers included) sees. */
typedef struct cd_numbers cd_numbers;

/* Take one more reference to b (not NULL); returns b. Thread-safe. */
cd_numbers *cd_numbers_retain(cd_numbers *b);
/* Drop one reference to b (NULL: nothing); the last frees the numbers. */
void cd_numbers_release(cd_numbers *b);

typedef struct cd_packed {
    const json_t *node;           /* the stand-in empty array */
    double *data;                 /* (n) row-major values, in block */
    cd_numbers *block;            /* holds data; the doc's reference */
    int rank;                     /* nesting depth of the array, 1..CD_MAX_RANK */
    int64_t dims[CD_MAX_RANK];    /* (rank) */
    int64_t n;
} cd_packed;

/* A string value kept as a span of the text (cd_json_opts.span_keys): the
 * tree holds a stand-in empty string, the text is here (it holds no
 * escape). */
typedef struct cd_span {
    const json_t *node;           /* the stand-in */
    const char *text;             /* (len) the bytes between the quotes */
    size_t len;
} cd_span;

typedef struct cd_doc {
    json_t *root;
    cd_packed *packed;            /* (npacked), sorted by node after parsing */
    int npacked;
    size_t cap;
    /* Objects holding one of cd_json_opts.record_keys, in the order their
     * first such key appears in the text. */
    const json_t **records;       /* (nrecords) */
    int nrecords;
    size_t reccap;
    cd_span *spans;               /* (nspans), sorted by node after parsing */
    int nspans;
    size_t spancap;
    int64_t bytes;                /* estimated memory the parse took (the tree and its tables) */
} cd_doc;

/* What a parse may do. The memory of the tree it builds (jansson values,
 * keys, strings, packed data and the parser's scratch, estimated from
 * jansson 2.14's allocations) is charged as it is built, so a hostile text
 * is refused after a bounded amount of work and memory, not after it has
 * taken gigabytes. Key lists are NULL-terminated arrays of strings, or
 * NULL for none; a key matches when its decoded text equals an entry. */
typedef struct cd_json_opts {
    int max_depth;                  /* nesting; < 1 means 1 */
    int64_t max_bytes;              /* estimated tree bytes; 0: unbounded */
    const char *const *root_keys;   /* keys the root object may have (checked as each key is read,
                                       before its value), or NULL: any */
    const char *const *span_keys;   /* an object member under one of these keys whose value is a
                                       string without escapes is kept as a cd_span (no decoding,
                                       no copy; its text is checked only for the closing quote);
                                       with an escape it is decoded as any other string */
    const char *const *record_keys; /* an object holding one of these keys goes to cd_doc.records */
    const volatile int *cancel;     /* stop with CD_E_CANCELLED once non-zero; may be NULL */
} cd_json_opts;

/* Parse s[0..len). A packed array's numbers are parsed once, into a
 * scratch buffer that becomes the array's block when it is large
 * (CD_ADOPT_MIN numbers: no copy), else copied out of it (the scratch is
 * reused). The budget is charged the same either way: the scratch's
 * largest size once, plus each array's numbers.
 * Returns 0 with *doc filled (free it with cd_doc_free),
 * or -1 with *e filled (any kind but CD_OK) and *doc empty. */
int cd_json_parse(const char *s, size_t len, const cd_json_opts *o, cd_doc *doc, cd_err *e);

/* The text of string v (a span of the text for span_keys values), its
 * length in *len; NULL when v is not a string. */
const char *cd_doc_text(const cd_doc *d, const json_t *v, size_t *len);

/* The packed data standing behind v, or NULL when v is an ordinary value. */
const cd_packed *cd_doc_packed(const cd_doc *d, const json_t *v);

/* Free everything d holds (the tree included) and empty it. */
void cd_doc_free(cd_doc *d);

#endif

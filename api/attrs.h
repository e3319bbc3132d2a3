/* attrs.h -- the attribute values of op nodes, read one way from both
 * spellings (the long form's "attrs": {"axis": 1} and an expression's
 * sum(x, axis=1)) through lib's attribute table (gr_attr_def), and written
 * one way (gradient-graph export, the /v1/ops catalogue).
 *
 * Errors are the same for the same bad attribute in either form:
 *   GD_E_UNKNOWN_ATTRIBUTE  (422) the op takes no attribute of that name
 *   GD_E_INVALID_REQUEST    (400) a value of the wrong type (or a list of
 *                                 more than GR_MAX_RANK entries)
 *   GD_E_INVALID_ARGUMENT   (422) a value outside the table's range
 * The long form answers them at the attribute's path (a list entry of the
 * wrong type at the entry's); an expression at the expression's path, the
 * message naming the column. */
#ifndef GRADD_ATTRS_H
#define GRADD_ATTRS_H

#include <jansson.h>
#include <stddef.h>

#include "codec/buf.h"
#include "err.h"
#include "grad.h"

/* An attribute value as an expression spells it: spans of its tokens in
 * the source (the expression parser finds them, this reader says what
 * they mean). A sign folds into the number after it. */
typedef struct gd_attr_lit {
    const char *src;                   /* the whole expression */
    size_t pos, end;                   /* the value's first token, src[pos, end); pos == end: the end of
                                          the text, nothing there */
    int list;                          /* 1: the value is [e0, e1, ...] opening at pos */
    int n;                             /* list entries seen (only the first GR_MAX_RANK + 1 are kept) */
    size_t entry_pos[GR_MAX_RANK + 1]; /* (min(n, GR_MAX_RANK + 1)) entry k is src[entry_pos[k], entry_end[k]) */
    size_t entry_end[GR_MAX_RANK + 1];
} gd_attr_lit;

/* Where a value comes from: json (the long form) or lit (an expression). */
typedef struct gd_attr_src {
    const json_t *json;       /* the long form's value, or NULL */
    int json_packed;          /* 1: json is the stand-in of a packed array of numbers (too long for a list) */
    const gd_attr_lit *lit;   /* the expression's value, when json is NULL */
} gd_attr_src;

typedef struct gd_attr_error {
    gd_code code;             /* one of the three above */
    long entry;               /* long form: the list entry at fault, for the path; -1: the attribute */
    size_t pos;               /* expression form: byte offset of the fault in lit->src */
    char message[384];        /* a sentence without position ("attribute 'axis' of sum takes an integer, found 1.5") */
} gd_attr_error;

/* The row of the attribute name[0..len) when op takes it; else NULL with
 * *err GD_E_UNKNOWN_ATTRIBUTE ("sum has no attribute 'axs' (it takes
 * axes, keepdims, axis)"). */
/* Source text quoted for an error message: mark, at most GD_QUOTE_MAX bytes
 * of s[0..n) with every byte outside printable ASCII written \xHH (so a
 * message stays ASCII whatever the request held), "..." when cut, mark.
 * buf needs GD_QUOTE_CAP bytes. */
#define GD_QUOTE_MAX 40
#define GD_QUOTE_CAP (GD_QUOTE_MAX * 4 + 8)
void gd_quote(const char *s, size_t n, char mark, char *buf, size_t cap);

const gr_attr_def *gd_attr_find(const gr_op *op, const char *name, size_t len, gd_attr_error *err);

/* The reader: the value src gives for attribute d of op into *out, of d's
 * type and inside d's range (gr_attr_check). Returns 0, or -1 with *err
 * filled. d need not be a row of lib's table (the tests read a string row
 * of their own). */
int gd_attr_read(const gr_op *op, const gr_attr_def *d, const gd_attr_src *src, gr_attr_value *out,
                 gd_attr_error *err);

/* The writer: v as JSON (an integer, a list, true/false, a number, a
 * string). */
void gd_attr_write(cd_buf *b, const gr_attr_value *v);

/* The attributes set in a as one JSON object, in table order. */
void gd_attrs_write(cd_buf *b, const gr_attrs *a);

/* d's catalogue entry: {"name", "type", "required", range keys
 * ("minimum", "maximum" for an integer and each list entry, "max_items",
 * "max_length", "enum" for a string of fixed choices), "default" (null
 * when the description says what absence means), "description"}. */
void gd_attr_write_info(cd_buf *b, const gr_attr_def *d, int required);

#endif

/* err.h -- the API's error: HTTP status, stable code, JSON pointer path
 * and a sentence a person can act on. Every error the service can answer
 * (the API's and the daemon's own) is one row of a table, named by a
 * gd_code: the row gives its HTTP status, its stable code string and what
 * it means. Failure sites name a row, never a status or a code string;
 * tests/unit/test_error_table.c holds the table and openapi.yaml's list of
 * codes to the same set. */
#ifndef GRADD_ERR_H
#define GRADD_ERR_H

#include <stddef.h>

#include "grad.h"

/* One per row of the error table (err.c), grouped by status. */
typedef enum gd_code {
    GD_E_INTERNAL = 0, /* 500: a bug (an error filled without a row) */
    /* 400: the request is not well formed */
    GD_E_INVALID_JSON,
    GD_E_INVALID_REQUEST,
    GD_E_UNKNOWN_FIELD,
    GD_E_MISSING_FIELD,
    GD_E_MISSING_VALUE,
    GD_E_INVALID_NAME,
    GD_E_DUPLICATE_KEY,
    GD_E_BAD_TENSOR,
    GD_E_BAD_EXPRESSION,
    GD_E_BAD_BINARY,
    GD_E_BAD_HEADERS,
    /* 401, 404, 405, 414, 415, 431: the daemon's routing and policing */
    GD_E_URI_TOO_LONG,
    GD_E_HEADERS_TOO_LARGE,
    GD_E_UNAUTHORIZED,
    GD_E_UNKNOWN_ROUTE,
    GD_E_NOT_FOUND,
    GD_E_GRAPH_NOT_FOUND,
    GD_E_METHOD_NOT_ALLOWED,
    GD_E_UNSUPPORTED_MEDIA_TYPE,
    /* 413: over a limit */
    GD_E_LIMIT_EXCEEDED,
    GD_E_SIZE_OVERFLOW,
    GD_E_OUT_OF_MEMORY,
    /* 422: well formed, but not a graph that can be computed */
    GD_E_UNKNOWN_OP,
    GD_E_UNKNOWN_ATTRIBUTE,
    GD_E_UNKNOWN_NAME,
    GD_E_DUPLICATE_NAME,
    GD_E_SHAPE_MISMATCH,
    GD_E_CYCLE,
    GD_E_LOSS_NOT_SCALAR,
    GD_E_INVALID_ARGUMENT,
    GD_E_INVALID_VALUE,
    GD_E_DTYPE_MISMATCH,
    GD_E_BAD_STATE,
    /* 503: try again later */
    GD_E_OVERLOADED,
    GD_E_DRAINING,
    GD_E_DEFERRED, /* never answered: the caller reruns the call on a worker */
    /* 504: out of time */
    GD_E_CANCELLED,
    GD_E_DEADLINE_EXCEEDED,
    GD_E_COUNT
} gd_code;

/* A row of the error table. */
typedef struct gd_error_row {
    gd_code id;          /* the row's own enum (rows are in enum order) */
    int status;          /* HTTP status it is answered with */
    const char *code;    /* the stable machine-readable code, as answered */
    gr_status lib;       /* the libgrad status mapped to this row, GR_OK for none */
    int answered;        /* 0 for a row no client ever sees (GD_E_DEFERRED) */
    const char *meaning; /* one sentence: when it is answered */
} gd_error_row;

/* The row of id (GD_E_INTERNAL's for an id out of range). */
const gd_error_row *gd_error_row_of(gd_code id);

typedef struct gd_err {
    int status;           /* 0 while there is no error; else the row's status */
    gd_code id;           /* the row (meaningful once status is set) */
    const char *code;     /* the row's stable code string */
    char path[2048];      /* JSON pointer, "" for the whole request */
    char message[640];
} gd_err;

/* Fill e with row id (first error wins: a filled e is left alone) and
 * return -1. */
int gd_fail(gd_err *e, gd_code id, const char *path, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

struct cd_buf;
/* The error envelope every error answer carries, API or daemon:
 * {"error": message, "code": the row's code, "path": JSON pointer}. An e
 * never filled writes the internal row (a bug, not a client's fault). */
void gd_err_write(struct cd_buf *b, const gd_err *e);

/* The row a libgrad error status is answered with (GD_E_INTERNAL for
 * GR_OK or a status out of range). */
gd_code gd_lib_code(gr_status s);

/* Append a JSON pointer token (escaping ~ and /) to path, in place. */
void gd_path_push(char *path, size_t cap, const char *token);
/* Append an array index. */
void gd_path_index(char *path, size_t cap, long i);

#endif

/* err.c -- the error table, filling gd_err from it, and mapping libgrad's
 * statuses to its rows. */
#include "err.h"

#include "codec/buf.h"
#include "codec/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* The table: one row per error, in gd_code order (test_error_table checks
 * the order, and that the answered codes are openapi.yaml's). */
#define ROW(id, status, code, lib, meaning) [id] = {id, status, code, lib, 1, meaning}
static const gd_error_row rows[GD_E_COUNT] = {
    ROW(GD_E_INTERNAL, 500, "internal", GR_OK, "A bug: an error was raised without a row of the error table."),
    ROW(GD_E_INVALID_JSON, 400, "invalid_json", GR_OK, "The body is not valid JSON (RFC 8259, UTF-8)."),
    ROW(GD_E_INVALID_REQUEST, 400, "invalid_request", GR_OK,
        "A field has the wrong type or a value it cannot take, or fields contradict each other."),
    ROW(GD_E_UNKNOWN_FIELD, 400, "unknown_field", GR_OK,
        "A field the route does not take, or a value for a name the graph does not declare."),
    ROW(GD_E_MISSING_FIELD, 400, "missing_field", GR_OK, "A field the route needs is absent."),
    ROW(GD_E_MISSING_VALUE, 400, "missing_value", GR_OK, "A name the graph declares was given no value."),
    ROW(GD_E_INVALID_NAME, 400, "invalid_name", GR_OK,
        "A name that is empty, too long or uses characters names cannot."),
    ROW(GD_E_DUPLICATE_KEY, 400, "duplicate_key", GR_OK, "A key appears twice in one JSON object."),
    ROW(GD_E_BAD_TENSOR, 400, "bad_tensor", GR_OK,
        "A tensor value that is not one: ragged, the wrong count, not numbers, or bad base64."),
    ROW(GD_E_BAD_EXPRESSION, 400, "bad_expression", GR_OK, "An expression string that does not parse."),
    ROW(GD_E_BAD_BINARY, 400, "bad_binary", GR_OK,
        "The binary tensor layout does not add up: binary_data_size against the bytes after the JSON."),
    ROW(GD_E_BAD_HEADERS, 400, "bad_headers", GR_OK,
        "Framing headers that are malformed or contradict each other or the body (Content-Length, "
        "Transfer-Encoding, Inference-Header-Content-Length)."),
    ROW(GD_E_URI_TOO_LONG, 414, "uri_too_long", GR_OK,
        "A request line whose URI alone is over the daemon's header limit (--max-header-bytes)."),
    ROW(GD_E_HEADERS_TOO_LARGE, 431, "headers_too_large", GR_OK,
        "A request line and header lines over the daemon's header limit (--max-header-bytes) together."),
    ROW(GD_E_UNAUTHORIZED, 401, "unauthorized", GR_OK, "A missing or wrong API key, when the daemon has keys."),
    ROW(GD_E_UNKNOWN_ROUTE, 404, "unknown_route", GR_OK, "A path under /v1/ that names no route."),
    ROW(GD_E_NOT_FOUND, 404, "not_found", GR_OK, "Nothing is served at that path outside /v1/."),
    ROW(GD_E_GRAPH_NOT_FOUND, 404, "graph_not_found", GR_OK,
        "A graph ref this replica's graph store does not hold (never uploaded here, or evicted): upload the graph "
        "with POST /v1/graphs and send the request again."),
    ROW(GD_E_METHOD_NOT_ALLOWED, 405, "method_not_allowed", GR_OK,
        "The path exists but takes another method (see Allow)."),
    ROW(GD_E_UNSUPPORTED_MEDIA_TYPE, 415, "unsupported_media_type", GR_OK,
        "A request body that is neither JSON nor the binary tensor extension."),
    ROW(GD_E_LIMIT_EXCEEDED, 413, "limit_exceeded", GR_E_LIMIT,
        "Over a limit: body size, nesting, nodes, rank, elements, bytes, expression length, steps, list length "
        "or memory."),
    ROW(GD_E_SIZE_OVERFLOW, 413, "size_overflow", GR_E_OVERFLOW, "A shape whose size overflows 64-bit arithmetic."),
    ROW(GD_E_OUT_OF_MEMORY, 413, "out_of_memory", GR_E_NOMEM,
        "The service ran out of memory building or running the graph."),
    ROW(GD_E_UNKNOWN_OP, 422, "unknown_op", GR_E_OP, "An op that is not in the catalogue (GET /v1/ops)."),
    ROW(GD_E_UNKNOWN_ATTRIBUTE, 422, "unknown_attribute", GR_OK, "An attribute the op does not have."),
    ROW(GD_E_UNKNOWN_NAME, 422, "unknown_name", GR_E_NAME,
        "A name that is not a node, input or parameter of the graph."),
    ROW(GD_E_DUPLICATE_NAME, 422, "duplicate_name", GR_E_DUPLICATE, "A name defined twice in the graph."),
    ROW(GD_E_SHAPE_MISMATCH, 422, "shape_mismatch", GR_E_SHAPE, "Operand or value shapes that do not fit."),
    ROW(GD_E_CYCLE, 422, "cycle", GR_E_CYCLE, "The graph has a cycle."),
    ROW(GD_E_LOSS_NOT_SCALAR, 422, "loss_not_scalar", GR_E_NOT_SCALAR, "A loss that is not a single element."),
    ROW(GD_E_INVALID_ARGUMENT, 422, "invalid_argument", GR_E_ARG,
        "An op's operand count or attribute value is out of its range."),
    ROW(GD_E_INVALID_VALUE, 422, "invalid_value", GR_E_VALUE, "A bad value at run time (e.g. a label out of range)."),
    ROW(GD_E_DTYPE_MISMATCH, 422, "dtype_mismatch", GR_E_DTYPE, "A value of a dtype the graph does not use."),
    ROW(GD_E_BAD_STATE, 422, "bad_state", GR_E_STATE, "A library call out of order: a bug in the service."),
    ROW(GD_E_OVERLOADED, 503, "overloaded", GR_OK, "The server is busy; retry after Retry-After seconds."),
    ROW(GD_E_DRAINING, 503, "draining", GR_OK, "The server is shutting down; retry on another replica."),
    [GD_E_DEFERRED] = {GD_E_DEFERRED, 503, "deferred", GR_OK, 0,
                       "Never answered: the call passed its work budget before running and goes to a worker."},
    ROW(GD_E_CANCELLED, 504, "cancelled", GR_E_CANCELLED, "The request's deadline passed and its work was cancelled."),
    ROW(GD_E_DEADLINE_EXCEEDED, 504, "deadline_exceeded", GR_OK,
        "The request's estimated work cannot finish before its deadline, so it was not run."),
};
#undef ROW

const gd_error_row *gd_error_row_of(gd_code id) {
    return (int)id >= 0 && id < GD_E_COUNT ? &rows[id] : &rows[GD_E_INTERNAL];
}

int gd_fail(gd_err *e, gd_code id, const char *path, const char *fmt, ...) {
    if (!e || e->status) return -1;
    const gd_error_row *row = gd_error_row_of(id);
    e->status = row->status;
    e->id = row->id;
    e->code = row->code;
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

gd_code gd_lib_code(gr_status s) {
    for (int i = 0; s != GR_OK && i < GD_E_COUNT; i++)
        if (rows[i].lib == s) return rows[i].id;
    return GD_E_INTERNAL;
}

void gd_path_push(char *path, size_t cap, const char *token) { cd_path_push(path, cap, token); }

void gd_path_index(char *path, size_t cap, long i) { cd_path_index(path, cap, i); }

void gd_err_write(struct cd_buf *b, const gd_err *e) {
    const gd_error_row *row = gd_error_row_of(e->status ? e->id : GD_E_INTERNAL);
    cd_buf_puts(b, "{\"error\":");
    cd_buf_str(b, e->message);
    cd_buf_puts(b, ",\"code\":");
    cd_buf_str(b, row->code);
    cd_buf_puts(b, ",\"path\":");
    cd_buf_str(b, e->path);
    cd_buf_putc(b, '}');
}

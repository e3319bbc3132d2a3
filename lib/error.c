/* error.c -- status names and the error filler every module uses. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static const char *const status_names[GR_STATUS_COUNT] = {
    [GR_OK] = "ok",
    [GR_E_ARG] = "invalid_argument",
    [GR_E_NOMEM] = "out_of_memory",
    [GR_E_LIMIT] = "limit_exceeded",
    [GR_E_OVERFLOW] = "size_overflow",
    [GR_E_SHAPE] = "shape_mismatch",
    [GR_E_DTYPE] = "dtype_mismatch",
    [GR_E_NAME] = "unknown_name",
    [GR_E_DUPLICATE] = "duplicate_name",
    [GR_E_CYCLE] = "cycle",
    [GR_E_OP] = "unknown_op",
    [GR_E_STATE] = "bad_state",
    [GR_E_NOT_SCALAR] = "loss_not_scalar",
    [GR_E_VALUE] = "invalid_value",
    [GR_E_CANCELLED] = "cancelled",
};

const char *gr_status_name(gr_status s) {
    if ((int)s < 0 || s >= GR_STATUS_COUNT) return "unknown";
    return status_names[s];
}

void gr_error_clear(gr_error *err) {
    if (!err) return;
    memset(err, 0, sizeof *err);
    err->node_id = -1;
    err->operand = -1;
}

__attribute__((format(printf, 5, 0))) static gr_status vfail(gr_error *err, gr_status code, const char *node,
                                                              int operand, const char *fmt, va_list ap) {
    if (!err) return code;
    err->code = code;
    err->node_id = -1;
    err->operand = operand;
    snprintf(err->node, sizeof err->node, "%s", node ? node : "");
    err->attr[0] = '\0';
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    return code;
}

gr_status gr_fail(gr_error *err, gr_status code, const char *node, int operand, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfail(err, code, node, operand, fmt, ap);
    va_end(ap);
    return code;
}

gr_status gr_fail_node(gr_error *err, gr_status code, const gr_graph *g, int id, int operand, const char *fmt,
                       ...) {
    char buf[32];
    const char *name = gr_node_name(g, id, buf, sizeof buf);
    va_list ap;
    va_start(ap, fmt);
    vfail(err, code, name, operand, fmt, ap);
    va_end(ap);
    if (err) err->node_id = id;
    return code;
}

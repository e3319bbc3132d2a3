/* spec.c -- the route specs (spec.h): every route, the fields its body
 * takes, their types, and which of them shape the compiled program. */
#include "spec.h"

#include <string.h>

#include "request.h"
#include "routes.h"

#define ARG(member) offsetof(gd_args, member)

/* Fields every computing route takes. The graph and dtype shape the
 * program; the values of inputs and params are bound at run time (their
 * names and shapes enter the key through the declared leaves). */
#define COMMON                                                                                                        \
    {"graph", GD_FIELD_GRAPH, 0, 1}, {"dtype", GD_FIELD_DTYPE, 0, 1}, {"inputs", GD_FIELD_LEAVES, 0, 0},           \
        {"params", GD_FIELD_LEAVES, 0, 0}, {"encoding", GD_FIELD_ENCODING, 0, 0},                                     \
        {"binary_data_output", GD_FIELD_BINARY, 0, 0}

static const gd_field_spec forward_fields[] = {COMMON, {"outputs", GD_FIELD_NAMES, ARG(outputs), 1}};
/* A trace answers every node's value and adjoint, so its program outputs
 * every node: it shapes the program. */
static const gd_field_spec gradient_fields[] = {COMMON, {"wrt", GD_FIELD_NAMES, ARG(wrt), 1},
                                                {"outputs", GD_FIELD_NAMES, ARG(outputs), 1},
                                                {"trace", GD_FIELD_BOOL, ARG(trace), 1}};
/* The optimizer, its state and the step count are applied outside the
 * program (which is the loss and its gradient), so they are values. */
static const gd_field_spec step_fields[] = {COMMON,
                                            {"wrt", GD_FIELD_NAMES, ARG(wrt), 1},
                                            {"optimizer", GD_FIELD_OPTIMIZER, ARG(optimizer), 0},
                                            {"state", GD_FIELD_STATE, ARG(state), 0},
                                            {"buffers", GD_FIELD_LEAVES, 0, 0}, /* an ONNX model's BN statistics */
                                            {"steps", GD_FIELD_COUNT, ARG(steps), 0},
                                            {"batches", GD_FIELD_BATCHES, 0, 0},
                                            {"return_gradients", GD_FIELD_BOOL, ARG(return_gradients), 0},
                                            {"stream", GD_FIELD_BOOL, ARG(stream), 0},
                                            {"report_every", GD_FIELD_COUNT, ARG(report_every), 0},
                                            {"on_non_finite", GD_FIELD_NON_FINITE, ARG(non_finite_continue), 0},
                                            {"export", GD_FIELD_FORMAT, ARG(onnx), 0}};
static const gd_field_spec jvp_fields[] = {COMMON, {"tangents", GD_FIELD_TENSORS, ARG(tangents), 1},
                                           {"outputs", GD_FIELD_NAMES, ARG(outputs), 1}};
static const gd_field_spec hvp_fields[] = {COMMON, {"wrt", GD_FIELD_NAMES, ARG(wrt), 1},
                                           {"vector", GD_FIELD_TENSORS, ARG(vector), 1}};
static const gd_field_spec check_fields[] = {COMMON, {"wrt", GD_FIELD_NAMES, ARG(wrt), 1},
                                             {"eps", GD_FIELD_FRACTION, ARG(eps), 0}};
static const gd_field_spec graph_fields[] = {COMMON, {"wrt", GD_FIELD_NAMES, ARG(wrt), 1},
                                             {"format", GD_FIELD_FORMAT, ARG(onnx), 0}};
static const gd_field_spec shapes_fields[] = {{"graph", GD_FIELD_GRAPH, 0, 1},
                                              {"dtype", GD_FIELD_DTYPE, 0, 1},
                                              {"inputs", GD_FIELD_LEAVES, 0, 0},
                                              {"params", GD_FIELD_LEAVES, 0, 0},
                                              {"outputs", GD_FIELD_NAMES, ARG(outputs), 1}};

#define FIELDS(f) f, (int)(sizeof f / sizeof f[0])

static const gd_route_spec specs[] = {
    {"forward", "POST", gd_route_forward, FIELDS(forward_fields), 1, 0},
    {"gradient", "POST", gd_route_gradient, FIELDS(gradient_fields), 1, 0},
    {"step", "POST", gd_route_step, FIELDS(step_fields), 1, 0},
    {"jvp", "POST", gd_route_jvp, FIELDS(jvp_fields), 0, 0},
    {"hvp", "POST", gd_route_hvp, FIELDS(hvp_fields), 0, 0},
    {"check", "POST", gd_route_check, FIELDS(check_fields), 0, 0},
    {"gradient-graph", "POST", gd_route_gradient_graph, FIELDS(graph_fields), 0, 0},
    {"shapes", "POST", gd_route_shapes, FIELDS(shapes_fields), 0, 0},
    {"ops", "GET", NULL, NULL, 0, 0, 0},
    {"graphs", "POST", NULL, NULL, 0, 0, 1},
    {"graphs/{ref}", "GET", NULL, NULL, 0, 0, 1},
};
#define NSPECS ((int)(sizeof specs / sizeof specs[0]))

const gd_route_spec *gd_route_spec_find(const char *name) {
    for (int i = 0; name && i < NSPECS; i++)
        if (!strcmp(specs[i].name, name)) return &specs[i];
    return NULL;
}

const gd_route_spec *gd_route_spec_at(int i) { return i >= 0 && i < NSPECS ? &specs[i] : NULL; }

const gd_field_spec *gd_route_field(const gd_route_spec *s, const char *name) {
    for (int i = 0; s && name && i < s->nfields; i++)
        if (!strcmp(s->fields[i].name, name)) return &s->fields[i];
    return NULL;
}

const char *gd_field_json_type(gd_field_type t) {
    static const char *const types[GD_FIELD_TYPE_COUNT] = {
        [GD_FIELD_GRAPH] = NULL, /* a string or an object */
        [GD_FIELD_DTYPE] = "string",     [GD_FIELD_LEAVES] = "object",  [GD_FIELD_ENCODING] = "string",
        [GD_FIELD_BINARY] = "boolean",   [GD_FIELD_BOOL] = "boolean",   [GD_FIELD_NAMES] = "array",
        [GD_FIELD_TENSORS] = "object",   [GD_FIELD_OPTIMIZER] = "object", [GD_FIELD_STATE] = "object",
        [GD_FIELD_COUNT] = "integer",    [GD_FIELD_FRACTION] = "number", [GD_FIELD_BATCHES] = "array",
        [GD_FIELD_NON_FINITE] = "string", [GD_FIELD_FORMAT] = "string"};
    return (unsigned)t < GD_FIELD_TYPE_COUNT ? types[t] : NULL;
}

int gd_route_count(void) { return NSPECS; }
const char *gd_route_name(int i) { return i >= 0 && i < NSPECS ? specs[i].name : NULL; }
int gd_route_known(const char *route) { return gd_route_spec_find(route) != NULL; }
int gd_route_has_body(const char *route) {
    const gd_route_spec *s = gd_route_spec_find(route);
    return s && (s->handler != NULL || (s->store && !strcmp(s->method, "POST")));
}

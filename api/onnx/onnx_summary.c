/* onnx_summary.c -- what the graph store answers for an ONNX model
 * (POST /v1/graphs, GET /v1/graphs/{ref}): its inputs and outputs with
 * their declared shapes (symbolic dims -1), its params (float
 * initializers but BatchNormalization's running statistics, which are
 * "buffers") with their shapes, how many nodes of each op type it has, and
 * the dtype a request on it computes in (clients send tensors in it).
 * The model is unpacked under the cap a request body of its size may
 * take beside itself (gd_tree_bytes_max: 24 bytes a byte plus 1 MiB, at
 * most --max-tree-bytes), every allocation counted, so bytes that are no
 * model are refused (400) and a model that would take more (413) before
 * it is allocated. */
#include "onnx_impl.h"

#include <stdlib.h>
#include <string.h>

/* Shape s (may be NULL: unknown) as a JSON list, or null. */
static void put_value_shape(cd_buf *b, const Onnx__TypeProto *t) {
    const Onnx__TensorShapeProto *s =
        t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && t->tensor_type ? t->tensor_type->shape : NULL;
    if (!s) {
        cd_buf_puts(b, "null");
        return;
    }
    cd_buf_putc(b, '[');
    for (size_t k = 0; k < s->n_dim; k++) {
        const Onnx__TensorShapeProto__Dimension *d = s->dim[k];
        if (k) cd_buf_putc(b, ',');
        int known = d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0;
        cd_buf_i64(b, known ? d->dim_value : -1);
    }
    cd_buf_putc(b, ']');
}

static int is_initializer(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (g->initializer[i]->name && !strcmp(g->initializer[i]->name, name)) return 1;
    return 0;
}

static int is_bn_statistic(const Onnx__GraphProto *g, const char *name) {
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (!n->op_type || strcmp(n->op_type, "BatchNormalization")) continue;
        for (size_t k = 3; k < n->n_input && k < 5; k++)
            if (!strcmp(n->input[k], name)) return 1;
    }
    return 0;
}

/* The float initializers that are params (buffers 0) or buffers (1). */
static void put_initializers(cd_buf *b, const Onnx__GraphProto *g, int buffers) {
    int first = 1;
    cd_buf_putc(b, '{');
    for (size_t i = 0; i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (!t->name || !gd_ox_is_float_type(t->data_type) || is_bn_statistic(g, t->name) != buffers) continue;
        cd_buf_key(b, t->name, first);
        first = 0;
        cd_buf_putc(b, '[');
        for (size_t k = 0; k < t->n_dims; k++) {
            if (k) cd_buf_putc(b, ',');
            cd_buf_i64(b, t->dims[k]);
        }
        cd_buf_putc(b, ']');
    }
    cd_buf_putc(b, '}');
}

/* {op_type: count} in the order each type first appears. */
static void put_op_counts(cd_buf *b, const Onnx__GraphProto *g) {
    cd_buf_putc(b, '{');
    int first = 1;
    for (size_t i = 0; i < g->n_node; i++) {
        const char *op = g->node[i]->op_type ? g->node[i]->op_type : "";
        size_t seen = 0;
        while (seen < i && strcmp(g->node[seen]->op_type ? g->node[seen]->op_type : "", op)) seen++;
        if (seen < i) continue;
        int64_t count = 0;
        for (size_t k = i; k < g->n_node; k++) count += !strcmp(g->node[k]->op_type ? g->node[k]->op_type : "", op);
        cd_buf_key(b, op, first);
        first = 0;
        cd_buf_i64(b, count);
    }
    cd_buf_putc(b, '}');
}

/* The dtype a request on the model computes in when its graph gives none:
 * the first float initializer's, else the first float input's, float32
 * when it has neither (the rule of choose_dtype in onnx_decode.c). Clients
 * read it to send their tensors in that dtype. */
static const char *model_dtype(const Onnx__GraphProto *g) {
    for (size_t i = 0; i < g->n_initializer; i++)
        if (gd_ox_is_float_type(g->initializer[i]->data_type))
            return g->initializer[i]->data_type == OX_DOUBLE ? "float64" : "float32";
    for (size_t i = 0; i < g->n_input; i++) {
        const Onnx__TypeProto *t = g->input[i]->type;
        if (t && t->value_case == ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE && t->tensor_type &&
            gd_ox_is_float_type(t->tensor_type->elem_type))
            return t->tensor_type->elem_type == OX_DOUBLE ? "float64" : "float32";
    }
    return "float32";
}

int gd_onnx_summary(const char *bytes, size_t n, const gd_limits *lim, cd_buf *b, gd_err *e) {
    gd_onnx *m = calloc(1, sizeof *m);
    if (!m) return gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "out of memory reading the model");
    char why[160];
    int64_t cap = gd_tree_bytes_max(lim, n); /* what a request of this size may hold beside its body */
    if (gd_ox_model_unpack(m, (const uint8_t *)bytes, n, cap, why, sizeof why) < 0) {
        int over = m->alloc_bytes > 0 && m->alloc_bytes * 2 > cap;
        gd_onnx_free(m);
        return gd_fail(e, over ? GD_E_LIMIT_EXCEEDED : GD_E_INVALID_REQUEST, "", "%s", why);
    }
    const Onnx__GraphProto *g = m->model->graph;
    int rc = 0;
    if (!g) rc = gd_fail(e, GD_E_INVALID_REQUEST, "", "the model has no graph");
    else if ((int64_t)g->n_node > lim->max_nodes)
        rc = gd_fail(e, GD_E_LIMIT_EXCEEDED, "", "the model has more than %lld nodes", (long long)lim->max_nodes);
    for (size_t i = 0; rc == 0 && i < g->n_initializer; i++) {
        const Onnx__TensorProto *t = g->initializer[i];
        if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
            rc = gd_fail(e, GD_E_INVALID_ARGUMENT, "", "initializer \"%.64s\" keeps its data outside the model "
                         "(data_location EXTERNAL); gradd reads no files: embed the data", t->name ? t->name : "");
    }
    if (rc == 0) {
        cd_buf_puts(b, "\"dtype\":\"");
        cd_buf_puts(b, model_dtype(g));
        cd_buf_puts(b, "\",\"inputs\":{");
        int first = 1;
        for (size_t i = 0; i < g->n_input; i++) {
            const Onnx__ValueInfoProto *vi = g->input[i];
            if (!vi->name || is_initializer(g, vi->name)) continue;
            cd_buf_key(b, vi->name, first);
            first = 0;
            put_value_shape(b, vi->type);
        }
        cd_buf_puts(b, "},\"outputs\":{");
        first = 1;
        for (size_t i = 0; i < g->n_output; i++) {
            const Onnx__ValueInfoProto *vi = g->output[i];
            if (!vi->name) continue;
            cd_buf_key(b, vi->name, first);
            first = 0;
            put_value_shape(b, vi->type);
        }
        cd_buf_puts(b, "},\"params\":");
        put_initializers(b, g, 0);
        cd_buf_puts(b, ",\"buffers\":");
        put_initializers(b, g, 1);
        cd_buf_puts(b, ",\"ops\":");
        put_op_counts(b, g);
        int64_t v = 0;
        for (size_t i = 0; i < m->model->n_opset_import; i++) {
            const Onnx__OperatorSetIdProto *o = m->model->opset_import[i];
            if ((!o->domain || !o->domain[0] || !strcmp(o->domain, "ai.onnx")) && o->has_version) v = o->version;
        }
        cd_buf_puts(b, ",\"opset\":");
        cd_buf_i64(b, v);
    }
    gd_onnx_free(m);
    return rc;
}

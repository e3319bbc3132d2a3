/* lower.c -- lowering a decoded request to a finalized libgrad graph: the
 * leaves, then the short form's expression or the long form's nodes, then
 * shape inference. Lowering records where each node it makes came from
 * (its origin), so an error libgrad reports about a node, at any later
 * phase, is answered at the JSON pointer of the field that made it; no
 * code here reads libgrad's message text or the names it generated. */
#include "request.h"

#include "attrs.h"
#include "onnx/onnx.h"
#include "suggest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where a node came from. */
typedef enum origin_kind {
    ORIGIN_NONE = 0,  /* made later (derivatives): no field of the request */
    ORIGIN_LEAF,      /* leaves[index] */
    ORIGIN_SHORT,     /* the short form's expression, "/graph" */
    ORIGIN_NODE,      /* /graph/nodes/index, an {op, inputs, attrs} node */
    ORIGIN_NODE_EXPR, /* /graph/nodes/index/expr */
    ORIGIN_ONNX,      /* the ONNX model, "/graph/onnx" */
    ORIGIN_LOSS       /* the ONNX form's loss expression, "/graph/loss" */
} origin_kind;

struct gd_origin {
    int kind;          /* origin_kind */
    int index;
};

static int oom(gd_req *r) { return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "", "out of memory building the graph"); }

/* Every node made since the last call came from (kind, index). */
static int note_origin(gd_req *r, origin_kind kind, int index) {
    int n = r->g ? gr_graph_node_count(r->g) : 0;
    if (n > r->cap_origins) {
        int cap = r->cap_origins ? r->cap_origins : 64;
        while (cap < n) cap *= 2;
        gd_origin *o = realloc(r->origins, (size_t)cap * sizeof *o);
        if (!o) return oom(r);
        r->origins = o;
        r->cap_origins = cap;
    }
    for (int i = r->norigins; i < n; i++) r->origins[i] = (gd_origin){kind, index};
    r->norigins = n;
    return 0;
}

/* Node name (just made) is one the graph names. */
static int note_named(gd_req *r, const char *name) {
    if (r->nnamed == r->cap_named) {
        int cap = r->cap_named ? r->cap_named * 2 : 16;
        int *p = realloc(r->named, (size_t)cap * sizeof *p);
        if (!p) return oom(r);
        r->named = p;
        r->cap_named = cap;
    }
    r->named[r->nnamed++] = gr_graph_find(r->g, name);
    return 0;
}

static gd_origin origin_of(const gd_req *r, int id) {
    return id >= 0 && id < r->norigins ? r->origins[id] : (gd_origin){ORIGIN_NONE, 0};
}


/* The JSON pointer of origin o, and of its attribute attr or operand k
 * when the node is a long-form op node. */
static void origin_path(const gd_req *r, gd_origin o, const char *attr, int operand, char *path) {
    path[0] = '\0';
    switch ((origin_kind)o.kind) {
    case ORIGIN_NONE: return;
    case ORIGIN_LEAF: cd_join(path, GD_PATH_MAX, r->leaves[o.index].path, ""); return;
    case ORIGIN_SHORT: cd_join(path, GD_PATH_MAX, "/graph", ""); return;
    case ORIGIN_ONNX: cd_join(path, GD_PATH_MAX, "/graph/onnx", ""); return;
    case ORIGIN_LOSS: cd_join(path, GD_PATH_MAX, "/graph/loss", ""); return;
    case ORIGIN_NODE_EXPR:
    case ORIGIN_NODE:
        cd_join(path, GD_PATH_MAX, "/graph/nodes", "");
        gd_path_index(path, GD_PATH_MAX, o.index);
        if (o.kind == ORIGIN_NODE_EXPR) gd_path_push(path, GD_PATH_MAX, "expr");
        else if (attr && attr[0]) {
            gd_path_push(path, GD_PATH_MAX, "attrs");
            gd_path_push(path, GD_PATH_MAX, attr);
        } else if (operand >= 0) {
            gd_path_push(path, GD_PATH_MAX, "inputs");
            gd_path_index(path, GD_PATH_MAX, operand);
        }
        return;
    }
}

int gd_req_lib_error(gd_req *r, const gr_error *ge) {
    char path[GD_PATH_MAX] = "";
    int id = ge->node_id;
    if (id < 0 && ge->node[0] && r->g) id = gr_graph_find(r->g, ge->node);
    gd_origin o = origin_of(r, id);
    if (ge->code == GR_E_NOT_SCALAR) { /* the field that chose this loss */
        cd_join(path, sizeof path, r->short_expr ? "/graph" : "/graph/loss", "");
    } else if (ge->code == GR_E_VALUE && ge->operand >= 0 && id >= 0 && ge->operand < gr_node_operand_count(r->g, id) &&
               origin_of(r, gr_node_operand(r->g, id, ge->operand)).kind == ORIGIN_LEAF) {
        /* bad data: point at the value holding it */
        origin_path(r, origin_of(r, gr_node_operand(r->g, id, ge->operand)), NULL, -1, path);
    } else if (ge->code == GR_E_SHAPE && !ge->attr[0] && (o.kind == ORIGIN_SHORT || o.kind == ORIGIN_NODE_EXPR) &&
               ge->operand >= 0 && id >= 0 && ge->operand < gr_node_operand_count(r->g, id) &&
               origin_of(r, gr_node_operand(r->g, id, ge->operand)).kind == ORIGIN_LEAF) {
        /* an expression's operand that is a value has the wrong shape: point at the value, by name (an
         * expression has no finer pointer than itself) */
        const gd_leaf *l = &r->leaves[origin_of(r, gr_node_operand(r->g, id, ge->operand)).index];
        char shp[160];
        return gd_fail(r->e, gd_lib_code(ge->code), l->path, "%s (operand %d is the %s \"%s\" of shape %s, given at %s)",
                       ge->message, ge->operand, l->kind == GD_PARAM ? "param" : l->kind == GD_CONST ? "constant" : "input",
                       l->name, gr_shape_str(&l->value.shape, shp, sizeof shp), l->path);
    } else {
        origin_path(r, o, ge->attr, ge->operand, path);
    }
    return gd_fail(r->e, gd_lib_code(ge->code), path, "%s", ge->message);
}

/* ---- nodes ----------------------------------------------------------- */

/* Read attrs object a (at path) into *at for op, each value through the
 * attribute reader (attrs.h), the one the expression form uses. */
static int read_attrs(gd_req *r, const gr_op *op, const json_t *a, const char *path, gr_attrs *at) {
    char p[GD_PATH_MAX];
    memset(at, 0, sizeof *at);
    if (!a) return 0;
    if (!json_is_object(a)) return gd_fail(r->e, GD_E_INVALID_REQUEST, path, "attrs must be an object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)a, key, v) {
        gd_sub_path(p, path, key);
        gd_attr_error ae;
        gr_attr_value val;
        const gr_attr_def *d = gd_attr_find(op, key, strlen(key), &ae);
        gd_attr_src src = {.json = v, .json_packed = gd_doc_packed(&r->doc, v) != NULL};
        if (!d || gd_attr_read(op, d, &src, &val, &ae) < 0) {
            if (d && ae.entry >= 0) gd_path_index(p, sizeof p, ae.entry);
            return gd_fail(r->e, ae.code, p, "%s", ae.message);
        }
        gr_attrs_put(at, d, &val, NULL); /* already checked */
    }
    return 0;
}

/* The name of node k of an expression whose root is named root: the root
 * itself, else root#k (internal: errors about it point at the expression). */
static void expr_node_name(char *out, const char *root, int k, int is_root) {
    if (is_root) {
        cd_join(out, GR_NAME_MAX, root, "");
        return;
    }
    char num[24];
    cd_i64_text(num, k);
    cd_join(out, GR_NAME_MAX, root, "#");
    size_t at = strlen(out);
    cd_join(out + at, GR_NAME_MAX - at, num, "");
}

/* Add the nodes of expression src as node name (the root) and name#k. */
static int add_expr(gd_req *r, const char *name, const char *src, size_t len, const char *path) {
    gd_expr ex;
    gd_expr_error xe;
    gd_expr_limits xl = gd_expr_limits_default();
    xl.max_len = r->lim.max_expr_len;
    if (gd_expr_parse(src, len, &xl, &ex, &xe) < 0) {
        static const gd_code kinds[] = {[GD_EXPR_SYNTAX] = GD_E_BAD_EXPRESSION,
                                         [GD_EXPR_LIMIT] = GD_E_LIMIT_EXCEEDED,
                                         [GD_EXPR_UNKNOWN_OP] = GD_E_UNKNOWN_OP,
                                         [GD_EXPR_SIGNATURE] = GD_E_INVALID_ARGUMENT};
        return gd_fail(r->e, xe.fault == GD_EXPR_ATTR ? xe.code : kinds[xe.fault], path, "%s", xe.message);
    }
    int rc = -1;
    char (*names)[GR_NAME_MAX] = calloc((size_t)ex.n + 1, sizeof *names);
    gr_error ge;
    if (!names) {
        oom(r);
        goto out;
    }
    for (int k = 0; k < ex.n; k++) {
        const gd_ex_node *x = &ex.nodes[k];
        expr_node_name(names[k], name, k, k == ex.root);
        int made;
        if (x->kind == GD_EX_NAME) {
            if (x->name_len >= GR_NAME_MAX) {
                gd_fail(r->e, GD_E_BAD_EXPRESSION, path, "a name in the expression is too long");
                goto out;
            }
            char used[GR_NAME_MAX];
            memcpy(used, x->name, x->name_len);
            used[x->name_len] = '\0';
            if (r->short_expr && !gd_req_leaf(r, used)) { /* the short form's values are its names */
                char p[GD_PATH_MAX] = "/inputs";
                gd_path_push(p, sizeof p, used);
                gd_fail(r->e, GD_E_MISSING_VALUE, p,
                        "the expression uses \"%s\", and no value was given for it: give it under \"inputs\" (or "
                        "under \"params\" to train it)",
                        used);
                goto out;
            }
            if (k != ex.root) {
                memcpy(names[k], used, sizeof used);
                continue;
            }
            /* the expression is just a name: an identity node, name = ref * 1 */
            char ref[GR_NAME_MAX], one[GR_NAME_MAX + 8];
            memcpy(ref, x->name, x->name_len);
            ref[x->name_len] = '\0';
            snprintf(one, sizeof one, "%s#one", name);
            double v1 = 1;
            float f1 = 1;
            gr_shape s0 = {0};
            made = gr_graph_const(r->g, one, &s0, r->dt == GR_F32 ? (const void *)&f1 : (const void *)&v1, &ge) >= 0 &&
                   gr_graph_node(r->g, name, gr_op_find("mul"), (const char *[]){ref, one}, 2, NULL, &ge) >= 0;
        } else if (x->kind == GD_EX_NUM) {
            gr_shape s0 = {0};
            float f = (float)x->value;
            made = gr_graph_const(r->g, names[k], &s0, r->dt == GR_F32 ? (const void *)&f : (const void *)&x->value,
                                  &ge) >= 0;
        } else {
            const char *few[GR_MAX_OPERANDS], **operands = few; /* a list of tensors: more */
            if (x->nargs > GR_MAX_OPERANDS && !(operands = malloc((size_t)x->nargs * sizeof *operands))) {
                oom(r);
                goto out;
            }
            for (int j = 0; j < x->nargs; j++) operands[j] = names[gd_ex_args(x)[j]];
            made = gr_graph_node(r->g, names[k], x->op, operands, x->nargs, x->attrs, &ge) >= 0;
            if (operands != few) free(operands);
        }
        if (!made) { /* about the expression, whichever of its nodes */
            gd_fail(r->e, gd_lib_code(ge.code), path, "%s", ge.message);
            goto out;
        }
    }
    rc = 0;
out:
    free(names);
    gd_expr_free(&ex);
    return rc;
}

static int add_node(gd_req *r, const json_t *nd, long i) {
    char base[GD_PATH_MAX] = "/graph/nodes", p[GD_PATH_MAX];
    gd_path_index(base, sizeof base, i);
    if (!json_is_object(nd))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "a node is an object: {name, op, inputs, attrs} or {name, expr}");
    static const char *const node_fields[] = {"name", "op", "inputs", "attrs", "expr", NULL};
    if (gd_only_fields(nd, node_fields, base, "a node", r->e) < 0) return -1;
    const json_t *name = json_object_get(nd, "name"), *op = json_object_get(nd, "op"),
                 *expr = json_object_get(nd, "expr");
    gd_sub_path(p, base, "name");
    if (!json_is_string(name)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "a node needs a string \"name\"");
    const char *nm = json_string_value(name);
    if (!gd_name_ok(nm))
        return gd_fail(r->e, GD_E_INVALID_NAME, p,
                       "\"%.64s\" is not a valid name: names start with a letter or '_' and hold letters, digits and _.:/#-",
                       nm);
    if (!op == !expr) return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "a node has either \"op\" or \"expr\"");
    if (expr) {
        gd_sub_path(p, base, "expr");
        if (json_object_get(nd, "inputs") || json_object_get(nd, "attrs"))
            return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "an expression node takes no \"inputs\" or \"attrs\"");
        if (!json_is_string(expr)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "expr must be a string");
        if (gr_graph_find(r->g, nm) >= 0) {
            gd_sub_path(p, base, "name");
            return gd_fail(r->e, GD_E_DUPLICATE_NAME, p, "node '%s' is defined more than once", nm);
        }
        if (add_expr(r, nm, json_string_value(expr), json_string_length(expr), p) < 0) return -1;
        return note_origin(r, ORIGIN_NODE_EXPR, (int)i) < 0 ? -1 : note_named(r, nm);
    }
    gd_sub_path(p, base, "op");
    const gr_op *o = json_is_string(op) ? gr_op_find(json_string_value(op)) : NULL;
    if (!o) {
        const char *s = json_is_string(op) ? json_string_value(op) : "";
        const char *near = gd_nearest(s, strlen(s), gd_op_name_at, NULL);
        if (near) return gd_fail(r->e, GD_E_UNKNOWN_OP, p, "unknown op \"%.64s\"; did you mean \"%s\"?", s, near);
        return gd_fail(r->e, GD_E_UNKNOWN_OP, p, "unknown op \"%.64s\" (GET /v1/ops lists them)", s);
    }
    const json_t *ins = json_object_get(nd, "inputs");
    gd_sub_path(p, base, "inputs");
    size_t nin = ins ? json_array_size(ins) : 0;
    if (ins && !json_is_array(ins)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "inputs must be a list of names");
    if (gr_op_arity(o) == GR_VARIADIC && (nin < (size_t)gr_op_min_operands(o) || nin > GR_MAX_VARIADIC))
        return gd_fail(r->e, GD_E_INVALID_ARGUMENT, p, "%s takes %d to %d operands, got %zu", gr_op_name(o),
                       gr_op_min_operands(o), GR_MAX_VARIADIC, nin);
    if (gr_op_arity(o) != GR_VARIADIC && (int)nin != gr_op_arity(o))
        return gd_fail(r->e, GD_E_INVALID_ARGUMENT, p, "%s takes %d operand%s, got %zu", gr_op_name(o),
                       gr_op_arity(o), gr_op_arity(o) == 1 ? "" : "s", nin);
    for (size_t k = 0; k < nin; k++)
        if (!json_is_string(json_array_get(ins, k))) {
            gd_path_index(p, sizeof p, (long)k);
            return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "expected a node name");
        }
    gr_attrs at;
    gd_sub_path(p, base, "attrs");
    if (read_attrs(r, o, json_object_get(nd, "attrs"), p, &at) < 0) return -1;
    gr_error ge;
    const char *few[GR_MAX_OPERANDS], **operands = few; /* a variadic op's list: more */
    if (nin > GR_MAX_OPERANDS && !(operands = malloc(nin * sizeof *operands))) return oom(r);
    for (size_t k = 0; k < nin; k++) operands[k] = json_string_value(json_array_get(ins, k));
    int id = gr_graph_node(r->g, nm, o, operands, (int)nin, &at, &ge);
    if (operands != few) free(operands);
    if (id < 0) {
        if (ge.code == GR_E_DUPLICATE) {
            gd_sub_path(p, base, "name");
            return gd_fail(r->e, GD_E_DUPLICATE_NAME, p, "%s", ge.message);
        }
        origin_path(r, (gd_origin){ORIGIN_NODE, (int)i}, ge.attr, ge.operand, p);
        return gd_fail(r->e, gd_lib_code(ge.code), p, "%s", ge.message);
    }
    return note_origin(r, ORIGIN_NODE, (int)i) < 0 ? -1 : note_named(r, nm);
}

/* ---- the graph --------------------------------------------------------- */

/* What a graph node costs at most, for the node limit a request's budget
 * allows: a 152-byte gr_node (its attributes interned, attr_pool.c) in a table that doubles, its name and index
 * entries, and the compiler's per-node tables (measured: about 800). */
#define GD_NODE_BYTES 1024

/* In the short form every value must be used by the expression: a typo is
 * an error. */
static int check_all_used(gd_req *r) {
    int n;
    const int *order = gr_graph_order(r->g, &n);
    for (int i = 0; i < r->nleaves; i++) {
        int used = 0;
        for (int k = 0; k < n && !used; k++)
            for (int j = 0; j < gr_node_operand_count(r->g, order[k]); j++)
                used |= gr_node_operand(r->g, order[k], j) == r->leaves[i].node;
        if (!used)
            return gd_fail(r->e, GD_E_UNKNOWN_FIELD, r->leaves[i].path, "\"%s\" is not used by the expression",
                           r->leaves[i].name);
    }
    return 0;
}

/* Name name is needed (a long-form node's or a leaf's): mark it in need,
 * and queue its node (index holds name -> node index) unless it was. */
static int need_name(json_t *need, const json_t *index, int *queue, int *nq, char *skip, const char *name) {
    if (json_object_get(need, name)) return 0;
    if (json_object_set_new(need, name, json_true()) < 0) return -1;
    const json_t *at = json_object_get(index, name);
    if (at) {
        int j = (int)json_integer_value(at);
        skip[j] = 0;
        queue[(*nq)++] = j;
    }
    return 0;
}

/* forward of a long-form graph with inputs given no value: only the nodes
 * the outputs (or the loss) need are lowered, and an input they need must
 * have its value. *skip gets 1 for each node of "nodes" none of them
 * needs. 0, or -1 with r->e set. */
static int lower_all(gd_req *r, const char *skip);

static int prune_for_outputs(gd_req *r, char **skip_out) {
    size_t nn = json_array_size(r->nodes);
    json_t *index = json_object(), *need = json_object();
    char *skip = malloc(nn + 1);
    int *queue = malloc((nn + 1) * sizeof *queue), nq = 0, rc = -1;
    if (!index || !need || !skip || !queue) goto oom;
    memset(skip, 1, nn + 1);
    for (size_t i = 0; i < nn; i++) {
        const json_t *name = json_object_get(json_array_get(r->nodes, i), "name");
        if (json_is_string(name) && json_object_set_new(index, json_string_value(name), json_integer((json_int_t)i)) < 0)
            goto oom;
    }
    const gd_names *o = &r->args.outputs;
    for (int i = 0; i < (o->given ? o->n : r->loss_name ? 1 : 0); i++)
        if (need_name(need, index, queue, &nq, skip, o->given ? o->names[i] : r->loss_name) < 0) goto oom;
    while (nq > 0) {
        const json_t *nd = json_array_get(r->nodes, (size_t)queue[--nq]);
        const json_t *ins = json_object_get(nd, "inputs"), *expr = json_object_get(nd, "expr");
        for (size_t k = 0; k < json_array_size(ins); k++)
            if (json_is_string(json_array_get(ins, k)) &&
                need_name(need, index, queue, &nq, skip, json_string_value(json_array_get(ins, k))) < 0)
                goto oom;
        gd_expr ex;
        gd_expr_error xe;
        gd_expr_limits xl = gd_expr_limits_default();
        xl.max_len = r->lim.max_expr_len;
        if (!json_is_string(expr) || gd_expr_parse(json_string_value(expr), json_string_length(expr), &xl, &ex, &xe) < 0)
            continue; /* lowering the node reports what is wrong with it */
        for (int k = 0; k < ex.n; k++) {
            char used[GR_NAME_MAX];
            if (ex.nodes[k].kind != GD_EX_NAME || ex.nodes[k].name_len >= GR_NAME_MAX) continue;
            memcpy(used, ex.nodes[k].name, ex.nodes[k].name_len);
            used[ex.nodes[k].name_len] = '\0';
            if (need_name(need, index, queue, &nq, skip, used) < 0) {
                gd_expr_free(&ex);
                goto oom;
            }
        }
        gd_expr_free(&ex);
    }
    for (int i = 0; i < r->nleaves; i++) {
        const gd_leaf *l = &r->leaves[i];
        if (l->has_value || !json_object_get(need, l->name)) continue;
        char p[GD_PATH_MAX] = "/inputs";
        gd_path_push(p, sizeof p, l->name);
        gd_fail(r->e, GD_E_MISSING_VALUE, p, "no value was given for input \"%s\", and the %s need%s it", l->name,
                o->given ? "outputs" : "loss", o->given ? "" : "s");
        goto out;
    }
    *skip_out = skip;
    skip = NULL;
    rc = 0;
    goto out;
oom:
    rc = oom(r);
out:
    json_decref(index);
    json_decref(need);
    free(skip);
    free(queue);
    return rc;
}

gr_limits gd_req_graph_limits(const gd_req *r) {
    /* Nodes take memory too (the node table doubles as it grows; autodiff
     * and the compiler add per-node tables): at most the budget's worth. */
    int64_t budget_nodes = r->budget > 0 ? r->budget / GD_NODE_BYTES : 0;
    gr_limits gl = {.max_nodes = r->lim.max_nodes < budget_nodes ? r->lim.max_nodes : budget_nodes,
                    .max_elements = r->lim.max_elements,
                    .max_plan_bytes = r->budget,
                    .max_rank = r->lim.max_rank};
    return gl;
}

int gd_req_graph(gd_req *r) {
    gr_graph_free(r->g);
    r->g = NULL;
    r->loss = -1;
    r->norigins = 0;
    r->nnamed = 0;
    gr_limits gl = gd_req_graph_limits(r);
    r->g = gr_graph_new(r->dt, &gl);
    if (!r->g) return oom(r);
    gr_graph_set_cancel(r->g, r->cancel);
    char *skip = NULL; /* forward without some inputs' values: the long-form nodes no output needs */
    for (int i = 0; i < r->nleaves && !skip; i++)
        if (!r->leaves[i].has_value && prune_for_outputs(r, &skip) < 0) return -1;
    int rc = lower_all(r, skip);
    free(skip);
    return rc;
}

/* gd_req_graph's work: the leaves that have values, then the graph's
 * nodes but those skip marks (skip may be NULL), then shape inference. */
static int lower_all(gd_req *r, const char *skip) {
    int short_form = r->short_expr != NULL;
    gr_error ge;
    for (int i = 0; i < r->nleaves; i++) {
        gd_leaf *l = &r->leaves[i];
        const gr_shape *s = &l->value.shape;
        if (!l->has_value) { /* no output needs it (prune_for_outputs) */
            l->node = -1;
            continue;
        }
        l->node = l->kind == GD_INPUT   ? gr_graph_input(r->g, l->name, s, &ge)
                  : l->kind == GD_PARAM ? gr_graph_param(r->g, l->name, s, &ge)
                                        : gr_graph_const(r->g, l->name, s, l->value.data, &ge);
        if (l->node < 0) return gd_fail(r->e, gd_lib_code(ge.code), l->path, "%s", ge.message);
        if (note_origin(r, ORIGIN_LEAF, i) < 0) return -1;
    }
    if (short_form) {
        if (gd_req_leaf(r, "f"))
            return gd_fail(r->e, GD_E_DUPLICATE_NAME, gd_req_leaf(r, "f")->path,
                           "the short form names its expression f, so no value may be called f");
        if (add_expr(r, "f", r->short_expr, r->short_len, "/graph") < 0 || note_origin(r, ORIGIN_SHORT, 0) < 0 ||
            note_named(r, "f") < 0)
            return -1;
    } else {
        if (r->onnx && (gd_onnx_lower(r) < 0 || note_origin(r, ORIGIN_ONNX, 0) < 0)) return -1;
        int nout;
        const char *const *outs = gd_onnx_outputs(r, &nout);
        for (int i = 0; i < nout; i++)
            if (gr_graph_find(r->g, outs[i]) >= 0 && note_named(r, outs[i]) < 0) return -1;
        for (size_t i = 0; r->nodes && i < json_array_size(r->nodes); i++) {
            if ((i & 4095) == 4095 && r->cancel && *r->cancel)
                return gd_fail(r->e, GD_E_CANCELLED, "", "the request was cancelled while its graph was being built");
            if (skip && skip[i]) continue;
            if (add_node(r, json_array_get(r->nodes, i), (long)i) < 0) return -1;
        }
        size_t loss_len;
        const char *loss_expr = gd_onnx_loss_expr(r, &loss_len);
        if (loss_expr && (add_expr(r, "loss", loss_expr, loss_len, "/graph/loss") < 0 ||
                          note_origin(r, ORIGIN_LOSS, 0) < 0 || note_named(r, "loss") < 0))
            return -1;
    }
    if (gr_graph_finalize(r->g, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    if (short_form && check_all_used(r) < 0) return -1;
    if (r->loss_name) {
        r->loss = gr_graph_find(r->g, r->loss_name);
        if (r->loss < 0 && skip) return 0; /* pruned: the outputs do not need the loss */
        if (r->loss < 0)
            return gd_fail(r->e, GD_E_UNKNOWN_NAME, "/graph/loss", "the loss \"%.64s\" is not a node of the graph",
                           r->loss_name);
    }
    return 0;
}

/* Name i of the values and nodes the graph names (gd_nearest). */
static const char *named_at(void *ctx, int i) {
    gd_req *r = ctx;
    if (i < r->nleaves) return r->leaves[i].name;
    i -= r->nleaves;
    return i < r->nnamed ? gr_node_name(r->g, r->named[i], NULL, 0) : NULL;
}

int gd_req_resolve(gd_req *r, const char *field, const gd_names *names, int *ids) {
    for (int i = 0; i < names->n; i++) {
        ids[i] = gr_graph_find(r->g, names->names[i]);
        if (ids[i] >= 0) continue;
        char p[GD_PATH_MAX] = "";
        gd_path_push(p, sizeof p, field);
        gd_path_index(p, sizeof p, i);
        const char *near = gd_nearest(names->names[i], strlen(names->names[i]), named_at, r);
        if (near)
            return gd_fail(r->e, GD_E_UNKNOWN_NAME, p, "\"%.64s\" is not a node of the graph; did you mean \"%s\"?",
                           names->names[i], near);
        return gd_fail(r->e, GD_E_UNKNOWN_NAME, p, "\"%.64s\" is not a node of the graph", names->names[i]);
    }
    return names->n;
}

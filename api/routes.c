/* routes.c -- forward, gradient, jvp, hvp and check, and the helpers every
 * route shares: choosing outputs and wrt, compiling, running, writing. */
#include "routes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double gd_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int gd_need_loss(gd_req *r) {
    if (r->loss < 0)
        return gd_fail(r->e, GD_E_MISSING_FIELD, "/graph/loss", "/v1/%s needs the graph to name its loss", r->route);
    return r->loss;
}

int gd_wrt(gd_req *r, int *ids, const char **names, int max) {
    const gd_names *w = &r->args.wrt;
    if (w->given) {
        for (int i = 0; i < w->n; i++) names[i] = w->names[i];
        return gd_req_resolve(r, "wrt", w, ids);
    }
    int n = 0;
    for (int pass = 0; pass < 2 && n == 0; pass++)
        for (int i = 0; i < r->nleaves && n < max; i++) {
            const gd_leaf *l = &r->leaves[i];
            if (l->kind != (pass == 0 ? GD_PARAM : GD_INPUT)) continue;
            ids[n] = l->node;
            names[n++] = l->name;
        }
    if (n == 0) return gd_fail(r->e, GD_E_MISSING_FIELD, "/wrt", "the graph has no params or inputs to differentiate");
    return n;
}

int gd_outputs(gd_req *r, int *ids, const char **names, int max) {
    const gd_names *o = &r->args.outputs;
    (void)max; /* decode bounds the list at GD_MAX_LIST */
    if (o->given) {
        for (int i = 0; i < o->n; i++) names[i] = o->names[i];
        return gd_req_resolve(r, "outputs", o, ids);
    }
    if (r->loss < 0)
        return gd_fail(r->e, GD_E_MISSING_FIELD, "/outputs", "name the outputs, or give the graph a loss");
    ids[0] = r->loss;
    names[0] = r->loss_name;
    return 1;
}

gr_exec *gd_compile(gd_req *r, const int *outs, int n, gd_timing *t) {
    double t0 = gd_now_ms();
    gr_error ge;
    /* The arena gets what the tensors, the graph (derivative nodes
     * included) and the programs this request holds already leave. */
    gr_graph_set_plan_limit(r->g, r->budget - gr_graph_bytes(r->g) - r->plans_bytes);
    gr_exec *ex = gr_compile(r->g, outs, n, &ge);
    if (!ex) {
        gd_req_lib_error(r, &ge);
        return NULL;
    }
    gr_exec_stats st;
    gr_exec_get_stats(ex, &st);
    r->plans_bytes += st.arena_bytes;
    gd_bind(r, ex);
    t->compile_ms += gd_now_ms() - t0;
    return ex;
}

void gd_bind(gd_req *r, gr_exec *ex) {
    gr_error ge;
    for (int i = 0; i < r->nleaves; i++) {
        const gd_leaf *l = &r->leaves[i];
        if (l->kind != GD_CONST && l->node >= 0 && gr_exec_needs(ex, l->node)) gr_exec_bind(ex, l->node, l->value.data, &ge);
    }
    gr_exec_set_cancel(ex, r->cancel);
}

gr_exec *gd_program(gd_req *r, int **outs, int *n, gd_timing *t) {
    if (!r->plan) {
        gr_exec *ex = gd_compile(r, *outs, *n, t);
        if (ex && gd_req_keep(r, ex, *outs, *n)) *outs = r->plan->ids;
        return ex;
    }
    /* A cached program: bind this request's values, nothing to compile. */
    double t0 = gd_now_ms();
    gr_exec *ex = r->plan->ex;
    gd_bind(r, ex);
    *outs = r->plan->ids;
    *n = r->plan->nids;
    t->compile_ms += gd_now_ms() - t0;
    return ex;
}

void gd_program_done(gd_req *r, gr_exec *ex) {
    if (!ex || (r->plan && r->plan->ex == ex)) return;
    gr_exec_stats st;
    gr_exec_get_stats(ex, &st);
    r->plans_bytes -= st.arena_bytes;
    gr_exec_free(ex);
}

/* Refuse (504 deadline_exceeded, -1) a run of ex that cannot finish
 * before r's deadline even at GD_PEAK_FLOPS_PER_MS; 0 when it may. Only
 * the request's first run is judged (later ones of a step or check request
 * are cut by the cancel flag), and only while time is left: past the
 * deadline the flag answers (504 cancelled). */
static int refuse_past_deadline(gd_req *r, gr_exec *ex) {
    gr_exec_stats st;
    gr_exec_get_stats(ex, &st);
    double need_ms = (double)st.flops / GD_PEAK_FLOPS_PER_MS, left_ms = r->deadline_ms - gd_now_ms();
    r->deadline_ms = 0; /* judged once */
    if (need_ms <= left_ms || left_ms <= 0) return 0;
    return gd_fail(r->e, GD_E_DEADLINE_EXCEEDED, "",
                   "the request needs at least %.0f ms of compute (%.3g flops at %.3g TFLOP/s), but only %.0f ms are "
                   "left before its deadline",
                   need_ms, (double)st.flops, GD_PEAK_FLOPS_PER_MS / 1e9, left_ms);
}

int gd_run(gd_req *r, gr_exec *ex, gd_timing *t) {
    if (r->work_left > 0) { /* a budgeted call: defer rather than run past it */
        gr_exec_stats st;
        gr_exec_get_stats(ex, &st);
        int64_t work = st.flops + st.arena_bytes / 8 + 1;
        if (work >= r->work_left) {
            r->deferred = 1;
            return gd_fail(r->e, GD_E_DEFERRED, "", "over the call's work budget");
        }
        r->work_left -= work;
    }
    if (r->deadline_ms > 0 && refuse_past_deadline(r, ex) < 0) return -1;
    double t0 = gd_now_ms();
    gr_error ge;
    gr_status st = gr_exec_run(ex, &ge);
    t->execute_ms += gd_now_ms() - t0;
    return st == GR_OK ? 0 : gd_req_lib_error(r, &ge);
}

/* The next piece of a binary answer (gd_req.answer_pieces); out of
 * memory marks bin, which fails the answer. */
static void add_ref(gd_req *r, const char *src, size_t off, size_t len) {
    if (r->nrefs == r->refs_cap) {
        int cap = r->refs_cap ? 2 * r->refs_cap : 64;
        gd_bin_ref *more = realloc(r->refs, (size_t)cap * sizeof *more);
        if (!more) {
            r->bin.oom = 1;
            return;
        }
        r->refs = more;
        r->refs_cap = cap;
    }
    r->refs[r->nrefs++] = (gd_bin_ref){src, off, len};
}

void gd_put_tensor(cd_buf *b, gd_req *r, const gr_shape *s, const void *data) {
    if (r->enc != GD_ENC_BINARY || !r->answer_pieces) {
        gd_tensor_encode(b, r->dt, s, data, r->enc, &r->bin);
        return;
    }
    size_t bytes = gd_tensor_binary_header(b, r->dt, s);
    uintptr_t p = (uintptr_t)data, lent = (uintptr_t)r->binary_rw;
    if (p >= lent && bytes <= r->binary_len && p - lent <= r->binary_len - bytes) {
        add_ref(r, data, 0, bytes); /* values lent by the call (a param updated there): sent from there */
        return;
    }
    add_ref(r, NULL, r->bin.len, bytes);
    cd_buf_put(&r->bin, data, bytes);
}

void gd_put_map(cd_buf *b, gd_req *r, gr_exec *ex, const char *key, const char *const *names, const int *ids, int n,
                int first) {
    cd_buf_key(b, key, first);
    cd_buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        cd_buf_key(b, names[i], i == 0);
        gd_put_tensor(b, r, gr_node_shape(r->g, ids[i]), gr_exec_value(ex, ids[i]));
    }
    cd_buf_putc(b, '}');
}

void gd_put_dims(cd_buf *b, const gr_shape *s) {
    cd_buf_putc(b, '[');
    for (int i = 0; i < s->rank; i++) {
        if (i) cd_buf_putc(b, ',');
        cd_buf_i64(b, s->dims[i]);
    }
    cd_buf_putc(b, ']');
}

void gd_put_stats(cd_buf *b, gd_req *r, gr_exec *ex, const gd_timing *t) {
    gr_exec_stats st = {0};
    if (ex) gr_exec_get_stats(ex, &st);
    cd_buf_puts(b, ",\"stats\":{\"nodes\":");
    cd_buf_i64(b, r->g ? gr_graph_node_count(r->g) : 0);
    cd_buf_puts(b, ",\"instructions\":");
    cd_buf_i64(b, st.instructions);
    cd_buf_puts(b, ",\"flops\":");
    cd_buf_i64(b, st.flops);
    cd_buf_puts(b, ",\"arena_bytes\":");
    cd_buf_i64(b, st.arena_bytes);
    cd_buf_puts(b, ",\"compile_ms\":");
    cd_buf_f64(b, round(t->compile_ms * 1e3) / 1e3);
    cd_buf_puts(b, ",\"run_ms\":");
    cd_buf_f64(b, round(t->execute_ms * 1e3) / 1e3);
    cd_buf_puts(b, "}}");
}

/* Run ex and answer {key1: {...}, key2: {...}, stats}: the shape of the
 * gradient, jvp and hvp responses. Releases ex. */
static int run_and_answer(gd_req *r, cd_buf *b, gd_timing *t, gr_exec *ex, const char *key1, const char *const *names1,
                          const int *ids1, int n1, const char *key2, const char *const *names2, const int *ids2, int n2) {
    if (!ex || gd_run(r, ex, t) < 0) return gd_program_done(r, ex), -1;
    double t0 = gd_now_ms();
    cd_buf_putc(b, '{');
    gd_put_map(b, r, ex, key1, names1, ids1, n1, 1);
    gd_put_map(b, r, ex, key2, names2, ids2, n2, 0);
    gd_put_stats(b, r, ex, t);
    t->encode_ms += gd_now_ms() - t0;
    gd_program_done(r, ex);
    return 0;
}

/* ---- forward and gradient -------------------------------------------- */

int gd_route_forward(gd_req *r, cd_buf *b, gd_timing *t) {
    int ids_buf[GD_MAX_LIST], *ids = ids_buf;
    const char *names[GD_MAX_LIST];
    int n = gd_outputs(r, ids, names, GD_MAX_LIST);
    if (n < 0) return -1;
    gr_exec *ex = gd_program(r, &ids, &n, t);
    if (!ex || gd_run(r, ex, t) < 0) return gd_program_done(r, ex), -1;
    double t0 = gd_now_ms();
    cd_buf_putc(b, '{');
    gd_put_map(b, r, ex, "values", names, ids, n, 1);
    gd_put_stats(b, r, ex, t);
    t->encode_ms += gd_now_ms() - t0;
    gd_program_done(r, ex);
    return 0;
}

int gd_route_gradient(gd_req *r, cd_buf *b, gd_timing *t) {
    int wrt[GD_MAX_LIST], outs[2 * GD_MAX_LIST + 1], nval = 1;
    const char *wnames[GD_MAX_LIST], *vnames[GD_MAX_LIST + 1];
    if (r->args.trace) return gd_route_gradient_trace(r, b, t);
    if (gd_need_loss(r) < 0) return -1;
    int n = gd_wrt(r, wrt, wnames, GD_MAX_LIST);
    if (n < 0) return -1;
    outs[0] = r->loss;
    vnames[0] = r->loss_name;
    if (r->args.outputs.given) { /* more values besides the loss (which is there once) */
        int m = gd_outputs(r, outs + 1, vnames + 1, GD_MAX_LIST);
        if (m < 0) return -1;
        for (int k = 1; k <= m; k++)
            if (outs[k] != r->loss) outs[nval] = outs[k], vnames[nval++] = vnames[k];
    }
    double t0 = gd_now_ms();
    gr_error ge;
    if (!r->plan && gr_grad(r->g, r->loss, wrt, n, outs + nval, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    t->compile_ms += gd_now_ms() - t0;
    int *ids = outs, nids = nval + n;
    gr_exec *ex = gd_program(r, &ids, &nids, t);
    return run_and_answer(r, b, t, ex, "values", vnames, ids, nval, "gradients", wnames, ids + nval, n);
}

/* ---- vectors given per node: tangents (jvp) and the hvp direction ---- */

/* For each entry of the tensor map m (decoded from field key), a new
 * input node holding the value, shaped like the node it is for; the node
 * ids go to *nodes, the new inputs to *vecs. When want (n_want > 0) is
 * given, the names must be exactly want's. Returns the count or -1. */
static int read_vectors(gd_req *r, const char *key, const gd_tensor_map *m, const int *want,
                        const char *const *want_names, int n_want, int *nodes, int *vecs, const char **names) {
    char base[GD_PATH_MAX] = "", p[GD_PATH_MAX];
    gd_path_push(base, sizeof base, key);
    if (!m->given) return gd_fail(r->e, GD_E_MISSING_FIELD, base, "/v1/%s needs \"%s\": {name: value}", r->route, key);
    for (int n = 0; n < m->n; n++) {
        const gd_named *x = &m->items[n];
        int id = gr_graph_find(r->g, x->name);
        if (id < 0) return gd_fail(r->e, GD_E_UNKNOWN_NAME, x->path, "\"%.64s\" is not a node of the graph", x->name);
        if (n_want > 0) {
            int k = 0;
            while (k < n_want && want[k] != id) k++;
            if (k == n_want) return gd_fail(r->e, GD_E_UNKNOWN_FIELD, x->path, "\"%.64s\" is not in wrt", x->name);
        }
        /* the value, held as a leaf of the request shaped like its node */
        char leafname[GR_NAME_MAX + 16];
        cd_join(leafname, sizeof leafname, key, "#");
        cd_join(leafname + strlen(leafname), sizeof leafname - strlen(leafname), x->name, "");
        gd_leaf *l = gd_req_add_leaf(r, leafname, GD_INPUT, x->path);
        if (!l) return -1;
        l->ndims = gr_node_shape(r->g, id)->rank;
        memcpy(l->dims, gr_node_shape(r->g, id)->dims, sizeof l->dims);
        if (gd_req_set_batch_value(r, l, x) < 0) return -1;
        gr_error ge;
        l->node = gr_graph_input(r->g, leafname, &l->value.shape, &ge);
        if (l->node < 0) return gd_req_lib_error(r, &ge);
        nodes[n] = id;
        vecs[n] = l->node;
        names[n] = x->name;
    }
    for (int k = 0; k < n_want; k++) {
        int found = 0;
        for (int j = 0; j < m->n; j++) found |= nodes[j] == want[k];
        if (!found) {
            cd_join(p, sizeof p, base, "");
            gd_path_push(p, sizeof p, want_names[k]);
            return gd_fail(r->e, GD_E_MISSING_VALUE, p, "no %s entry for \"%s\"", key, want_names[k]);
        }
    }
    return m->n;
}

int gd_route_jvp(gd_req *r, cd_buf *b, gd_timing *t) {
    int seeds[GD_MAX_LIST], tans[GD_MAX_LIST], outs[2 * GD_MAX_LIST];
    const char *snames[GD_MAX_LIST], *onames[GD_MAX_LIST];
    int n_out = gd_outputs(r, outs, onames, GD_MAX_LIST);
    if (n_out < 0) return -1;
    int n = read_vectors(r, "tangents", &r->args.tangents, NULL, NULL, 0, seeds, tans, snames);
    if (n < 0) return -1;
    double t0 = gd_now_ms();
    gr_error ge;
    if (gr_jvp(r->g, seeds, tans, n, outs, n_out, outs + n_out, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    t->compile_ms += gd_now_ms() - t0;
    gr_exec *ex = gd_compile(r, outs, 2 * n_out, t);
    return run_and_answer(r, b, t, ex, "values", onames, outs, n_out, "tangents", onames, outs + n_out, n_out);
}

int gd_route_hvp(gd_req *r, cd_buf *b, gd_timing *t) {
    int wrt[GD_MAX_LIST], nodes[GD_MAX_LIST], vecs[GD_MAX_LIST], outs[GD_MAX_LIST + 1];
    const char *wnames[GD_MAX_LIST], *vnames[GD_MAX_LIST];
    if (gd_need_loss(r) < 0) return -1;
    int n = gd_wrt(r, wrt, wnames, GD_MAX_LIST);
    if (n < 0 || read_vectors(r, "vector", &r->args.vector, wrt, wnames, n, nodes, vecs, vnames) < 0) return -1;
    /* the vectors in wrt's order */
    int ordered[GD_MAX_LIST];
    for (int k = 0; k < n; k++)
        for (int j = 0; j < n; j++)
            if (nodes[j] == wrt[k]) ordered[k] = vecs[j];
    double t0 = gd_now_ms();
    gr_error ge;
    outs[0] = r->loss;
    if (gr_hvp(r->g, r->loss, wrt, ordered, n, outs + 1, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    t->compile_ms += gd_now_ms() - t0;
    gr_exec *ex = gd_compile(r, outs, n + 1, t);
    const char *lname = r->loss_name;
    return run_and_answer(r, b, t, ex, "values", &lname, outs, 1, "hvp", wnames, outs + 1, n);
}

/* ---- check: finite differences against the gradient ----------------- */

static double elem(gr_dtype dt, const void *p, int64_t i) {
    return dt == GR_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}
static void set_elem(gr_dtype dt, void *p, int64_t i, double v) {
    if (dt == GR_F32) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
}

int gd_route_check(gd_req *r, cd_buf *b, gd_timing *t) {
    int wrt[GD_MAX_LIST], outs[GD_MAX_LIST + 1];
    const char *wnames[GD_MAX_LIST];
    gd_leaf *leaves[GD_MAX_LIST];
    if (gd_need_loss(r) < 0) return -1;
    int n = gd_wrt(r, wrt, wnames, GD_MAX_LIST);
    if (n < 0) return -1;
    double eps = r->args.eps > 0 ? r->args.eps : r->dt == GR_F32 ? 1e-3 : 1e-6;
    int64_t total = 0;
    for (int k = 0; k < n; k++) {
        char p[GD_PATH_MAX] = "/wrt";
        gd_path_index(p, sizeof p, k);
        leaves[k] = NULL;
        for (int i = 0; i < r->nleaves; i++)
            if (r->leaves[i].node == wrt[k] && r->leaves[i].kind != GD_CONST) leaves[k] = &r->leaves[i];
        if (!leaves[k]) return gd_fail(r->e, GD_E_INVALID_ARGUMENT, p, "check perturbs inputs and params only");
        total += leaves[k]->value.n;
    }
    if (total > r->lim.max_check_elements)
        return gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/wrt", "check would perturb %lld elements, over the limit of %lld",
                       (long long)total, (long long)r->lim.max_check_elements);
    outs[0] = r->loss;
    double t0 = gd_now_ms();
    gr_error ge;
    if (gr_grad(r->g, r->loss, wrt, n, outs + 1, &ge) != GR_OK) return gd_req_lib_error(r, &ge);
    t->compile_ms += gd_now_ms() - t0;
    /* Two programs from one graph: the second gets what the first leaves. */
    gr_exec *ex = gd_compile(r, outs, n + 1, t), *fx = ex ? gd_compile(r, outs, 1, t) : NULL;
    if (!fx || gd_run(r, ex, t) < 0) {
        gr_exec_free(ex);
        gr_exec_free(fx);
        return -1;
    }
    t0 = gd_now_ms();
    cd_buf_putc(b, '{');
    const char *lname = r->loss_name;
    gd_put_map(b, r, ex, "values", &lname, outs, 1, 1);
    cd_buf_puts(b, ",\"check\":{");
    t->encode_ms += gd_now_ms() - t0;
    int rc = 0;
    for (int k = 0; k < n && rc == 0; k++) {
        gd_leaf *l = leaves[k];
        const void *grad = gr_exec_value(ex, outs[1 + k]);
        double max_abs = 0, max_rel = 0;
        for (int64_t i = 0; i < l->value.n && rc == 0; i++) {
            double x = elem(r->dt, l->value.data, i), h = eps * (fabs(x) > 1 ? fabs(x) : 1), f[2];
            for (int s = 0; s < 2 && rc == 0; s++) {
                set_elem(r->dt, l->value.data, i, s ? x - h : x + h);
                rc = gd_run(r, fx, t);
                f[s] = elem(r->dt, gr_exec_value(fx, r->loss), 0);
            }
            set_elem(r->dt, l->value.data, i, x);
            double num = (f[0] - f[1]) / (2 * h), ana = elem(r->dt, grad, i), err = fabs(num - ana);
            double scale = fmax(fabs(num), fabs(ana));
            if (!(err <= max_abs)) max_abs = err; /* NaN wins */
            if (scale > 0 && !(err / scale <= max_rel)) max_rel = err / scale;
        }
        cd_buf_key(b, wnames[k], k == 0);
        cd_buf_puts(b, "{\"max_abs_error\":");
        cd_buf_f64(b, max_abs);
        cd_buf_puts(b, ",\"max_rel_error\":");
        cd_buf_f64(b, max_rel);
        cd_buf_puts(b, ",\"elements\":");
        cd_buf_i64(b, l->value.n);
        cd_buf_puts(b, ",\"eps\":");
        cd_buf_f64(b, eps);
        cd_buf_putc(b, '}');
    }
    cd_buf_putc(b, '}');
    if (rc == 0) gd_put_stats(b, r, ex, t);
    gr_exec_free(ex);
    gr_exec_free(fx);
    return rc;
}

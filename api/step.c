/* step.c -- optimizer steps: "steps" repeats on one batch, "batches" takes
 * one step per batch (and "steps" passes over them). The service keeps no
 * state: updated params and the optimizer's state go back in the response
 * and come back with the next request. */
#include "routes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct optim {
    int adam;                 /* 0: SGD */
    gr_sgd sgd;
    gr_adam ad;
    int64_t step;             /* Adam's count of steps already taken */
} optim;

static int read_num(gd_req *r, const json_t *o, const char *key, double *v) {
    const json_t *x = json_object_get(o, key);
    if (!x) return 0;
    char p[GD_PATH_MAX] = "/optimizer";
    gd_path_push(p, sizeof p, key);
    if (!json_is_number(x)) return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "%s must be a number", key);
    *v = json_number_value(x);
    return 0;
}

static int read_optimizer(gd_req *r, optim *o) {
    const json_t *j = json_object_get(r->doc.json.root, "optimizer");
    memset(o, 0, sizeof *o);
    o->sgd = gr_sgd_default();
    o->ad = gr_adam_default();
    if (!j) return 0; /* plain SGD, lr 0.01 */
    if (!json_is_object(j)) return gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer", "optimizer must be an object");
    const json_t *name = json_object_get(j, "name");
    const char *nm = json_is_string(name) ? json_string_value(name) : "sgd";
    if (name && !json_is_string(name)) return gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer/name", "name must be a string");
    static const char *const sgd_keys[] = {"name", "lr", "momentum", "nesterov", "weight_decay", NULL};
    static const char *const adam_keys[] = {"name", "lr", "beta1", "beta2", "eps", "weight_decay", NULL};
    if (!strcmp(nm, "adam") || !strcmp(nm, "adamw")) {
        o->adam = 1;
        o->ad.decoupled = nm[4] == 'w';
    } else if (strcmp(nm, "sgd")) {
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer/name", "optimizer \"%.32s\" is not one of sgd, adam, adamw", nm);
    }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)j, key, v) {
        int ok = 0;
        for (const char *const *k = o->adam ? adam_keys : sgd_keys; *k; k++) ok |= !strcmp(*k, key);
        if (!ok) {
            char p[GD_PATH_MAX] = "/optimizer";
            gd_path_push(p, sizeof p, key);
            return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "%s takes no \"%.32s\"", nm, key);
        }
    }
    gr_error ge;
    if (o->adam) {
        if (read_num(r, j, "lr", &o->ad.lr) || read_num(r, j, "beta1", &o->ad.beta1) ||
            read_num(r, j, "beta2", &o->ad.beta2) || read_num(r, j, "eps", &o->ad.eps) ||
            read_num(r, j, "weight_decay", &o->ad.weight_decay))
            return -1;
        if (gr_adam_check(&o->ad, &ge) != GR_OK) goto bad;
    } else {
        const json_t *nest = json_object_get(j, "nesterov");
        if (nest && !json_is_boolean(nest))
            return gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer/nesterov", "nesterov must be true or false");
        o->sgd.nesterov = json_is_true(nest);
        if (read_num(r, j, "lr", &o->sgd.lr) || read_num(r, j, "momentum", &o->sgd.momentum) ||
            read_num(r, j, "weight_decay", &o->sgd.weight_decay))
            return -1;
        if (gr_sgd_check(&o->sgd, &ge) != GR_OK) goto bad;
    }
    return 0;
bad: {
    char p[GD_PATH_MAX] = "/optimizer";
    gd_path_push(p, sizeof p, ge.attr);
    return gd_fail(r->e, GD_E_INVALID_REQUEST, p, "%s", ge.message);
}
}

/* The optimizer state of each trained param: velocity (SGD with
 * momentum) or m and v (Adam), from "state" or zeros. */
static int read_state(gd_req *r, optim *o, gd_leaf *const *params, int n, gd_tensor *s1, gd_tensor *s2) {
    const json_t *st = json_object_get(r->doc.json.root, "state");
    const char *k1 = o->adam ? "m" : "velocity", *k2 = o->adam ? "v" : NULL;
    int need = o->adam || o->sgd.momentum > 0;
    if (st && !json_is_object(st)) return gd_fail(r->e, GD_E_INVALID_REQUEST, "/state", "state must be an object");
    if (st) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)st, key, v) {
            if (strcmp(key, k1) && (!k2 || strcmp(key, k2)) && !(o->adam && !strcmp(key, "step"))) {
                char p[GD_PATH_MAX] = "/state";
                gd_path_push(p, sizeof p, key);
                return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "unknown optimizer state \"%.32s\" (%s)", key,
                               o->adam ? "step, m, v" : "velocity");
            }
        }
        const json_t *step = json_object_get(st, "step");
        if (step && (!json_is_integer(step) || json_integer_value(step) < 0))
            return gd_fail(r->e, GD_E_INVALID_REQUEST, "/state/step", "step must be an integer >= 0");
        if (step) o->step = json_integer_value(step);
    }
    for (int pass = 0; pass < 2 && need; pass++) {
        const char *k = pass ? k2 : k1;
        gd_tensor *dst = pass ? s2 : s1;
        if (!k) break;
        const json_t *m = st ? json_object_get(st, k) : NULL;
        char base[GD_PATH_MAX] = "/state";
        gd_path_push(base, sizeof base, k);
        if (m && !json_is_object(m)) return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "expected {param: value}");
        const char *key;
        json_t *v;
        if (m) json_object_foreach((json_t *)m, key, v) {
            int found = 0;
            for (int i = 0; i < n; i++) found |= !strcmp(params[i]->name, key);
            if (!found) {
                char p[GD_PATH_MAX];
                cd_join(p, sizeof p, base, "");
                gd_path_push(p, sizeof p, key);
                return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "\"%.64s\" is not a trained param", key);
            }
        }
        for (int i = 0; i < n; i++) {
            char p[GD_PATH_MAX];
            cd_join(p, sizeof p, base, "");
            gd_path_push(p, sizeof p, params[i]->name);
            const json_t *v1 = m ? json_object_get(m, params[i]->name) : NULL;
            if (!v1) {
                if (gd_tensor_zeros(&params[i]->value.shape, r->dt, &r->budget, p, &dst[i], r->e) < 0) return -1;
                continue;
            }
            if (gd_tensor_decode(&r->doc, v1, r->dt, &r->lim, &r->budget, p, &dst[i], r->e) < 0) return -1;
            if (!gr_shape_equal(&dst[i].shape, &params[i]->value.shape)) {
                char a[160], c[160];
                return gd_fail(r->e, GD_E_SHAPE_MISMATCH, p, "the state has shape %s but the param has shape %s",
                               gr_shape_str(&dst[i].shape, a, sizeof a),
                               gr_shape_str(&params[i]->value.shape, c, sizeof c));
            }
        }
    }
    return 0;
}

/* Set the inputs of batch b (an object name: value). *reshaped gets the
 * first input whose shape changed, or NULL. */
static int load_batch(gd_req *r, const json_t *batch, long bi, gd_leaf **reshaped) {
    char base[GD_PATH_MAX] = "/batches", p[GD_PATH_MAX];
    gd_path_index(base, sizeof base, bi);
    if (!json_is_object(batch))
        return gd_fail(r->e, GD_E_INVALID_REQUEST, base, "a batch is an object of input name: value");
    const char *name;
    json_t *v;
    *reshaped = NULL;
    json_object_foreach((json_t *)batch, name, v) {
        cd_join(p, sizeof p, base, "");
        gd_path_push(p, sizeof p, name);
        gd_leaf *l = gd_req_leaf(r, name);
        if (!l || l->kind != GD_INPUT)
            return gd_fail(r->e, GD_E_UNKNOWN_FIELD, p, "the graph has no input \"%.64s\"", name);
        gr_shape old = l->value.shape;
        if (gd_req_set_value(r, l, v, p) < 0) return -1;
        if (!*reshaped && !gr_shape_equal(&old, &l->value.shape)) *reshaped = l;
    }
    return 0;
}

static void put_tensors(cd_buf *b, gd_req *r, const char *key, gd_leaf *const *params, const gd_tensor *ts, int n,
                        int first) {
    cd_buf_key(b, key, first);
    cd_buf_putc(b, '{');
    for (int i = 0; i < n; i++) {
        cd_buf_key(b, params[i]->name, i == 0);
        gd_put_tensor(b, r, &ts[i].shape, ts[i].data);
    }
    cd_buf_putc(b, '}');
}

int gd_route_step(gd_req *r, cd_buf *b, gd_timing *t) {
    int wrt[GD_MAX_LIST], outs[GD_MAX_LIST + 1], rc = -1;
    const char *wnames[GD_MAX_LIST];
    gd_leaf *params[GD_MAX_LIST];
    gd_tensor *s1 = NULL, *s2 = NULL, *vals = NULL; /* per param: optimizer state */
    double *losses = NULL;
    gr_exec *ex = NULL;
    optim o;
    if (gd_need_loss(r) < 0 || read_optimizer(r, &o) < 0) return -1;
    int has_params = 0;
    for (int i = 0; i < r->nleaves; i++) has_params |= r->leaves[i].kind == GD_PARAM;
    if (!has_params)
        return gd_fail(r->e, GD_E_MISSING_FIELD, "/params",
                       "step trains params, and this graph has none: give them under \"params\"");
    int n = gd_wrt(r, wrt, wnames, GD_MAX_LIST);
    if (n < 0) return -1;
    s1 = calloc((size_t)n, sizeof *s1);
    s2 = calloc((size_t)n, sizeof *s2);
    vals = calloc((size_t)r->nleaves + 1, sizeof *vals);
    if (!s1 || !s2 || !vals) {
        gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/wrt", "out of memory");
        goto out;
    }
    for (int k = 0; k < n; k++) {
        gd_leaf *l = gd_req_leaf(r, wnames[k]);
        if (!l || l->kind != GD_PARAM) {
            char p[GD_PATH_MAX] = "/wrt";
            gd_path_index(p, sizeof p, k);
            gd_fail(r->e, GD_E_INVALID_ARGUMENT, p, "step trains params; \"%.64s\" is not one", wnames[k]);
            goto out;
        }
        params[k] = l;
    }
    const json_t *jsteps = json_object_get(r->doc.json.root, "steps"), *batches = json_object_get(r->doc.json.root, "batches");
    int64_t steps = 1, nb = batches ? (int64_t)json_array_size(batches) : 1;
    const json_t *rg = json_object_get(r->doc.json.root, "return_gradients");
    if (jsteps && (!json_is_integer(jsteps) || json_integer_value(jsteps) < 1)) {
        gd_fail(r->e, GD_E_INVALID_REQUEST, "/steps", "steps must be an integer >= 1");
        goto out;
    }
    if (jsteps) steps = json_integer_value(jsteps);
    if (batches && (!json_is_array(batches) || nb == 0)) {
        gd_fail(r->e, GD_E_INVALID_REQUEST, "/batches", "batches must be a non-empty list of input objects");
        goto out;
    }
    if (steps > r->lim.max_steps || steps * nb > r->lim.max_steps) {
        gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/steps", "%lld steps is over the limit of %lld", (long long)(steps * nb),
                (long long)r->lim.max_steps);
        goto out;
    }
    if (rg && !json_is_boolean(rg)) {
        gd_fail(r->e, GD_E_INVALID_REQUEST, "/return_gradients", "return_gradients must be true or false");
        goto out;
    }
    if (read_state(r, &o, params, n, s1, s2) < 0) goto out;
    losses = malloc((size_t)(steps * nb) * sizeof *losses);
    if (!losses) {
        gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/steps", "out of memory");
        goto out;
    }

    int64_t done = 0;
    for (int64_t pass = 0; pass < steps; pass++)
        for (int64_t bi = 0; bi < nb; bi++) {
            gd_leaf *reshaped = NULL;
            if (batches && !(pass == 0 && bi == 0) && load_batch(r, json_array_get(batches, bi), (long)bi, &reshaped) < 0)
                goto out;
            if (reshaped || !ex) { /* (re)build for these shapes */
                double t0 = gd_now_ms();
                gr_error ge;
                gd_program_done(r, ex);
                ex = NULL;
                int bad = reshaped && gd_req_graph(r) < 0;
                if (reshaped && r->g) gr_graph_set_cancel(r->g, r->cancel);
                if (!bad && !r->plan) {
                    outs[0] = r->loss;
                    if (gr_grad(r->g, r->loss, wrt, n, outs + 1, &ge) != GR_OK) bad = gd_req_lib_error(r, &ge) < 0;
                }
                if (bad && reshaped) { /* the batch's new shapes are at fault: say so there */
                    gd_err first = *r->e;
                    r->e->status = 0;
                    gd_fail(r->e, first.id, reshaped->path, "batch %lld changes the shapes: %s",
                            (long long)bi, first.message);
                }
                if (bad) goto out;
                t->compile_ms += gd_now_ms() - t0;
                int *ids = outs, nids = n + 1;
                if (!(ex = gd_program(r, &ids, &nids, t))) goto out;
                memcpy(outs, ids, (size_t)nids * sizeof *ids);
            } else {
                gd_bind(r, ex); /* a new batch's buffers */
            }
            if (gd_run(r, ex, t) < 0) goto out;
            const void *lv = gr_exec_value(ex, r->loss);
            losses[done++] = r->dt == GR_F32 ? (double)*(const float *)lv : *(const double *)lv;
            double t0 = gd_now_ms();
            o.step++;
            for (int k = 0; k < n; k++) {
                gr_error ge;
                gd_leaf *l = params[k];
                const void *g = gr_exec_value(ex, outs[1 + k]);
                gr_status st = o.adam ? gr_adam_update(r->dt, l->value.n, l->value.data, g, s1[k].data, s2[k].data,
                                                       o.step, &o.ad, &ge)
                                      : gr_sgd_update(r->dt, l->value.n, l->value.data, g, s1[k].data, &o.sgd, &ge);
                if (st != GR_OK) {
                    gd_fail(r->e, GD_E_INVALID_REQUEST, "/optimizer", "%s", ge.message);
                    goto out;
                }
            }
            t->execute_ms += gd_now_ms() - t0;
        }

    double t0 = gd_now_ms();
    cd_buf_putc(b, '{');
    gd_leaf *all[GD_MAX_LIST];
    int np = 0;
    for (int i = 0; i < r->nleaves && np < GD_MAX_LIST; i++)
        if (r->leaves[i].kind == GD_PARAM) {
            all[np] = &r->leaves[i];
            vals[np++] = r->leaves[i].value;
        }
    put_tensors(b, r, "params", all, vals, np, 1);
    cd_buf_puts(b, ",\"state\":{");
    int first = 1;
    if (o.adam) {
        cd_buf_puts(b, "\"step\":");
        cd_buf_i64(b, o.step);
        first = 0;
    }
    if (o.adam || o.sgd.momentum > 0) put_tensors(b, r, o.adam ? "m" : "velocity", params, s1, n, first);
    if (o.adam) put_tensors(b, r, "v", params, s2, n, 0);
    cd_buf_puts(b, "},\"losses\":[");
    for (int64_t i = 0; i < done; i++) {
        if (i) cd_buf_putc(b, ',');
        if (r->dt == GR_F32) cd_buf_f32(b, (float)losses[i]);
        else cd_buf_f64(b, losses[i]);
    }
    cd_buf_putc(b, ']');
    if (json_is_true(rg)) gd_put_map(b, r, ex, "gradients", wnames, outs + 1, n, 0);
    gd_put_stats(b, r, ex, t);
    t->encode_ms += gd_now_ms() - t0;
    rc = 0;
out:
    for (int k = 0; k < n && s1 && s2; k++) {
        gd_tensor_free(&s1[k]);
        gd_tensor_free(&s2[k]);
    }
    free(s1);
    free(s2);
    free(vals);
    free(losses);
    gd_program_done(r, ex);
    return rc;
}

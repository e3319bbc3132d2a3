/* step.c -- optimizer steps: "steps" repeats on one batch, "batches" takes
 * one step per batch (and "steps" passes over them). The service keeps no
 * state: updated params and the optimizer's state go back in the response
 * and come back with the next request.
 *
 * Long work is never thrown away: a request cut by its deadline after k
 * completed steps answers 200 with the params and state after step k,
 * "stopped": "deadline" and "completed_steps": k (504 only when no step
 * completed). When the loss, a gradient or an updated param turns NaN or
 * infinite at step k, the update of step k is not kept: the answer holds
 * the params and state after step k - 1, "stopped": "non_finite" and
 * "non_finite": {"step": k, "in": "loss" | "gradient" | "param", "name"}
 * ("on_non_finite": "continue" keeps going instead). Streamed ("stream":
 * true or Accept: application/x-ndjson), a line {"step", "loss",
 * "elapsed_ms"} follows every "report_every"-th completed step, then the
 * answer as the last line, with "completed_steps".
 *
 * An ONNX model's buffers (BatchNormalization's running statistics) are
 * updated once per kept step as PyTorch's training mode does and answered
 * under "buffers" (sent back under "buffers" to continue, like state):
 * the program computes each one's next value ("<buffer>#next", made by
 * the lowering) beside the loss and gradients, copied into the buffer
 * once the step is kept. */
#include "routes.h"
#include "onnx/onnx.h"
#include "onnx/onnx_write.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The optimizer state of each trained param: velocity (SGD with
 * momentum) or m and v (Adam), from the request's state or zeros. The
 * state may name trained params only, each with the param's shape. */
static int init_state(gd_req *r, const gd_optimizer *o, gd_leaf *const *params, int n, gd_tensor *s1, gd_tensor *s2) {
    const gd_state *st = &r->args.state;
    int need = o->adam || o->sgd.momentum > 0;
    for (int pass = 0; pass < 2 && need; pass++) {
        if (pass && !o->adam) break;
        const gd_tensor_map *m = pass ? &st->second : &st->first;
        gd_tensor *dst = pass ? s2 : s1;
        const char *k = o->adam ? (pass ? "v" : "m") : "velocity";
        for (int j = 0; j < m->n; j++) {
            int found = 0;
            for (int i = 0; i < n; i++) found |= !strcmp(params[i]->name, m->items[j].name);
            if (!found)
                return gd_fail(r->e, GD_E_UNKNOWN_FIELD, m->items[j].path, "\"%.64s\" is not a trained param",
                               m->items[j].name);
        }
        for (int i = 0; i < n; i++) {
            char p[GD_PATH_MAX] = "/state";
            gd_path_push(p, sizeof p, k);
            gd_path_push(p, sizeof p, params[i]->name);
            gd_named *x = NULL;
            for (int j = 0; j < m->n; j++)
                if (!strcmp(m->items[j].name, params[i]->name)) x = &m->items[j];
            if (!x) {
                if (gd_tensor_zeros(&params[i]->value.shape, r->dt, &r->budget, p, &dst[i], r->e) < 0) return -1;
                continue;
            }
            if (!gr_shape_equal(&x->value.shape, &params[i]->value.shape)) {
                char a[160], c[160];
                return gd_fail(r->e, GD_E_SHAPE_MISMATCH, x->path, "the state has shape %s but the param has shape %s",
                               gr_shape_str(&x->value.shape, a, sizeof a),
                               gr_shape_str(&params[i]->value.shape, c, sizeof c));
            }
            dst[i] = x->value; /* taken: the state is updated in place and answered */
            memset(&x->value, 0, sizeof x->value);
        }
    }
    return 0;
}

/* Give the inputs of batch b their values. *reshaped gets the first
 * input whose shape changed, or NULL. */
static int load_batch(gd_req *r, const gd_tensor_map *batch, gd_leaf **reshaped) {
    *reshaped = NULL;
    for (int i = 0; i < batch->n; i++) {
        gd_leaf *l = gd_req_leaf(r, batch->items[i].name); /* decode checked it is an input */
        gr_shape old = l->value.shape;
        if (gd_req_set_batch_value(r, l, &batch->items[i]) < 0) return -1;
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

/* A progress line after step k (1-based) of loss, elapsed_ms since t0. */
static void progress_line(gd_req *r, int64_t k, double loss, double t0) {
    cd_buf line = {0};
    cd_buf_puts(&line, "{\"step\":");
    cd_buf_i64(&line, k);
    cd_buf_puts(&line, ",\"loss\":");
    if (r->dt == GR_F32) cd_buf_f32(&line, (float)loss);
    else cd_buf_f64(&line, loss);
    cd_buf_puts(&line, ",\"elapsed_ms\":");
    cd_buf_f64(&line, round((gd_now_ms() - t0) * 1e3) / 1e3);
    cd_buf_puts(&line, "}\n");
    if (!line.oom) {
        if (r->on_line) r->on_line(r->line_ctx, line.p, line.len);
        else cd_buf_put(&r->lines, line.p, line.len);
        r->nlines++;
    }
    cd_buf_free(&line);
}

/* The model's buffers, and where the program holds their next values. */
typedef struct buffers {
    gd_leaf **leaf;   /* (n) the buffer leaves */
    int *pos;         /* (n) index in the program's outputs of the buffer's next value, or -1:
                         no training-mode node updates it */
    int n;
} buffers;

/* The buffer leaves of r (none unless the graph is an ONNX model). 0, or
 * -1 out of memory. */
static int buffers_init(buffers *bf, gd_req *r) {
    bf->leaf = calloc((size_t)r->nleaves + 1, sizeof *bf->leaf);
    bf->pos = calloc((size_t)r->nleaves + 1, sizeof *bf->pos);
    if (!bf->leaf || !bf->pos) return -1;
    for (int i = 0; r->onnx && i < r->nleaves; i++)
        if (r->leaves[i].kind == GD_INPUT && gd_onnx_is_buffer(r, r->leaves[i].name)) bf->leaf[bf->n++] = &r->leaves[i];
    return 0;
}

static void buffers_free(buffers *bf) {
    free(bf->leaf);
    free(bf->pos);
}

/* Append to outs (holding *nouts ids) the nodes of r->g holding the next
 * value of each buffer that has one, recording their positions. */
static void buffers_find(buffers *bf, gd_req *r, int *outs, int *nouts) {
    char name[GR_NAME_MAX];
    for (int i = 0; i < bf->n; i++) {
        int id = gd_onnx_buffer_next_name(bf->leaf[i]->name, name, sizeof name) < 0 ? -1 : gr_graph_find(r->g, name);
        bf->pos[i] = id >= 0 ? *nouts : -1;
        if (id >= 0) outs[(*nouts)++] = id;
    }
}

/* A kept step: each updated buffer takes its next value from ex. */
static void buffers_update(buffers *bf, gd_req *r, gr_exec *ex, const int *outs) {
    for (int i = 0; i < bf->n; i++)
        if (bf->pos[i] >= 0)
            memcpy(bf->leaf[i]->value.data, gr_exec_value(ex, outs[bf->pos[i]]),
                   (size_t)bf->leaf[i]->value.n * gr_dtype_size(r->dt));
}

/* ,"buffers":{name: value} when the model has buffers. */
static void buffers_put(cd_buf *b, gd_req *r, const buffers *bf) {
    if (!bf->n) return;
    cd_buf_puts(b, ",\"buffers\":{");
    for (int i = 0; i < bf->n; i++) {
        cd_buf_key(b, bf->leaf[i]->name, i == 0);
        gd_put_tensor(b, r, &bf->leaf[i]->value.shape, bf->leaf[i]->value.data);
    }
    cd_buf_putc(b, '}');
}

/* Why the steps ended before the last. */
typedef enum { RAN_ALL, STOPPED_DEADLINE, STOPPED_NON_FINITE } stop_reason;

/* Where a non-finite value showed up. */
typedef struct non_finite {
    int64_t step;     /* 1-based */
    const char *in;   /* "loss", "gradient" or "param" */
    const char *name; /* the param, or NULL for the loss */
} non_finite;

/* The update of every param (grads[k] its gradient; step: Adam's, from 1).
 * With check, first a probe of each param (libgrad computes the update
 * without storing it): when a gradient is not finite, or an updated param
 * would not be, *bad names the param, *bad_in says which ("gradient" or
 * "param"), and nothing changes, so no copy of the params is kept to undo
 * a step (resnet18's are 45 MB). A non-finite gradient is named before a
 * param going non-finite (the first of each, in param order). The probes
 * and the update each take every param in one call, split across the
 * kernel threads. 0, or -1 with r->e set. */
static int update_params(gd_req *r, const gd_optimizer *o, gd_leaf *const *params, const void *const *grads,
                         gd_tensor *s1, gd_tensor *s2, int n, int64_t step, int check, const char **bad,
                         const char **bad_in) {
    gr_error ge;
    int64_t count[GD_MAX_LIST];
    void *data[GD_MAX_LIST], *m1[GD_MAX_LIST], *m2[GD_MAX_LIST];
    gr_update_probe pr[GD_MAX_LIST];
    for (int k = 0; k < n; k++) {
        count[k] = params[k]->value.n;
        data[k] = params[k]->value.data;
        m1[k] = s1[k].data;
        m2[k] = s2[k].data;
    }
    const gr_update_set set = {n, count, data, grads, m1, m2};
    *bad = *bad_in = NULL;
    gr_status st = GR_OK;
    if (check) {
        st = o->adam ? gr_adam_probe_set(r->dt, &set, step, &o->ad, pr, &ge)
                     : gr_sgd_probe_set(r->dt, &set, &o->sgd, pr, &ge);
        for (int k = 0; st == GR_OK && k < n && !*bad_in; k++)
            if (pr[k] == GR_PROBE_GRAD_NOT_FINITE) *bad = params[k]->name, *bad_in = "gradient";
        for (int k = 0; st == GR_OK && k < n && !*bad_in; k++)
            if (pr[k] == GR_PROBE_PARAM_NOT_FINITE) *bad = params[k]->name, *bad_in = "param";
        if (*bad_in) return 0;
    }
    if (st == GR_OK)
        st = o->adam ? gr_adam_update_set(r->dt, &set, step, &o->ad, &ge) : gr_sgd_update_set(r->dt, &set, &o->sgd, &ge);
    if (st != GR_OK)
        return gd_fail(r->e, st == GR_E_NOMEM ? GD_E_LIMIT_EXCEEDED : GD_E_INVALID_REQUEST, "/optimizer", "%s",
                       ge.message);
    return 0;
}

/* "export": "onnx": the request's model with the updated params (and
 * buffers) as its initializers, under "onnx" in base64 (onnx_write.h). */
static int put_model(cd_buf *b, gd_req *r) {
    uint8_t *bytes;
    size_t len;
    if (gd_onnx_write_updated(r, &bytes, &len) < 0) return -1;
    gd_onnx_put_b64(b, bytes, len, 0);
    free(bytes);
    return 0;
}

/* The request was cut (its cancel flag is up and the failure is a
 * cancellation or a deadline refusal). */
static int was_cut(const gd_req *r) {
    return r->cancel && *r->cancel && (r->e->id == GD_E_CANCELLED || r->e->id == GD_E_DEADLINE_EXCEEDED);
}

int gd_route_step(gd_req *r, cd_buf *b, gd_timing *t) {
    int wrt[GD_MAX_LIST], *outs = NULL, rc = -1; /* loss, gradients, buffers' next values */
    const char *wnames[GD_MAX_LIST];
    gd_leaf *params[GD_MAX_LIST];
    gd_tensor *s1 = NULL, *s2 = NULL, *vals = NULL; /* per param: optimizer state */
    double *losses = NULL;
    gr_exec *ex = NULL;
    const void **grads = NULL; /* (n) the gradients of the step being taken */
    buffers bf = {0};
    const gd_optimizer *o = &r->args.optimizer;
    int64_t adam_step = r->args.state.step;
    double t_begin = gd_now_ms();
    int check = !r->args.non_finite_continue, n = 0;
    if (r->ndjson && r->binary_out)
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/binary_data_output",
                       "a streamed step answers JSON lines: leave out binary_data_output, or do not stream");
    if (gd_need_loss(r) < 0) return -1;
    if (r->args.onnx && !r->onnx)
        return gd_fail(r->e, GD_E_INVALID_REQUEST, "/export", "\"export\": \"onnx\" writes the updated ONNX model, "
                       "and this graph is no ONNX model");
    int has_params = 0;
    for (int i = 0; i < r->nleaves; i++) has_params |= r->leaves[i].kind == GD_PARAM;
    if (!has_params)
        return gd_fail(r->e, GD_E_MISSING_FIELD, "/params",
                       "step trains params, and this graph has none: give them under \"params\"");
    n = gd_wrt(r, wrt, wnames, GD_MAX_LIST);
    if (n < 0) return -1;
    s1 = calloc((size_t)n, sizeof *s1);
    s2 = calloc((size_t)n, sizeof *s2);
    vals = calloc((size_t)r->nleaves + 1, sizeof *vals);
    outs = calloc((size_t)(n + 1 + r->nleaves), sizeof *outs);
    if (!s1 || !s2 || !vals || !outs || buffers_init(&bf, r) < 0) {
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
    int64_t steps = r->args.steps, nb = r->args.nbatches ? r->args.nbatches : 1, total = steps * nb;
    if (init_state(r, o, params, n, s1, s2) < 0) goto out;
    losses = malloc((size_t)total * sizeof *losses);
    if (!losses || !(grads = calloc((size_t)n + 1, sizeof *grads))) {
        gd_fail(r->e, GD_E_LIMIT_EXCEEDED, "/steps", "out of memory");
        goto out;
    }

    int64_t done = 0;
    stop_reason stopped = RAN_ALL;
    non_finite bad_at = {0};
    for (int64_t pass = 0; pass < steps && stopped == RAN_ALL; pass++)
        for (int64_t bi = 0; bi < nb && stopped == RAN_ALL; bi++) {
            gd_leaf *reshaped = NULL;
            if (r->args.nbatches && !(pass == 0 && bi == 0) && load_batch(r, &r->args.batches[bi], &reshaped) < 0)
                goto fail;
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
                if (bad && reshaped && !was_cut(r)) { /* the batch's new shapes are at fault: say so there */
                    gd_err first = *r->e;
                    r->e->status = 0;
                    gd_fail(r->e, first.id, reshaped->path, "batch %lld changes the shapes: %s",
                            (long long)bi, first.message);
                }
                if (bad) goto fail;
                t->compile_ms += gd_now_ms() - t0;
                int *ids = outs, nids = n + 1;
                buffers_find(&bf, r, outs, &nids);
                if (!(ex = gd_program(r, &ids, &nids, t))) goto fail;
                memcpy(outs, ids, (size_t)nids * sizeof *ids);
            } else {
                gd_bind(r, ex); /* a new batch's buffers */
            }
            if (gd_run(r, ex, t) < 0) goto fail;
            const void *lv = gr_exec_value(ex, r->loss);
            double loss = r->dt == GR_F32 ? (double)*(const float *)lv : *(const double *)lv;
            double t0 = gd_now_ms();
            if (check && !isfinite(loss)) bad_at = (non_finite){done + 1, "loss", NULL};
            if (!bad_at.step) {
                for (int k = 0; k < n; k++) grads[k] = gr_exec_value(ex, outs[1 + k]);
                const char *bad, *bad_in;
                if (update_params(r, o, params, grads, s1, s2, n, adam_step + 1, check, &bad, &bad_in) < 0) goto out;
                if (bad) bad_at = (non_finite){done + 1, bad_in, bad}; /* step k is not taken */
                else buffers_update(&bf, r, ex, outs);
            }
            t->execute_ms += gd_now_ms() - t0;
            if (bad_at.step) {
                stopped = STOPPED_NON_FINITE;
                break;
            }
            adam_step++;
            losses[done++] = loss;
            if (r->ndjson && done % r->args.report_every == 0) progress_line(r, done, loss, t_begin);
        }
    if (0) {
    fail: /* cut by the deadline: answer what the completed steps made; else the failure */
        if (!was_cut(r)) goto out;
        if (done == 0) { /* nothing to answer: say so in optimizer steps, not program instructions */
            if (r->e->id == GD_E_CANCELLED) {
                gd_err first = *r->e;
                r->e->status = 0;
                gd_fail(r->e, first.id, first.path,
                        "the request was cancelled at its deadline after 0 of its %lld optimizer steps: the first "
                        "step did not finish in time; give the server more time (--deadline-ms) or send smaller "
                        "batches",
                        (long long)total);
            }
            goto out;
        }
        stopped = STOPPED_DEADLINE; /* r->e stays filled: the cut run's program is not kept */
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
    if (o->adam) {
        cd_buf_puts(b, "\"step\":");
        cd_buf_i64(b, adam_step);
        first = 0;
    }
    if (o->adam || o->sgd.momentum > 0) put_tensors(b, r, o->adam ? "m" : "velocity", params, s1, n, first);
    if (o->adam) put_tensors(b, r, "v", params, s2, n, 0);
    cd_buf_putc(b, '}');
    buffers_put(b, r, &bf);
    cd_buf_puts(b, ",\"losses\":[");
    for (int64_t i = 0; i < done; i++) {
        if (i) cd_buf_putc(b, ',');
        if (r->dt == GR_F32) cd_buf_f32(b, (float)losses[i]);
        else cd_buf_f64(b, losses[i]);
    }
    cd_buf_putc(b, ']');
    /* The last run's gradients; a run cut midway has none. */
    if (r->args.return_gradients && stopped != STOPPED_DEADLINE) gd_put_map(b, r, ex, "gradients", wnames, outs + 1, n, 0);
    if (stopped != RAN_ALL || r->ndjson) {
        cd_buf_puts(b, ",\"completed_steps\":");
        cd_buf_i64(b, done);
    }
    if (stopped == STOPPED_DEADLINE) {
        cd_buf_puts(b, ",\"stopped\":\"deadline\"");
    } else if (stopped == STOPPED_NON_FINITE) {
        cd_buf_puts(b, ",\"stopped\":\"non_finite\",\"non_finite\":{\"step\":");
        cd_buf_i64(b, bad_at.step);
        cd_buf_puts(b, ",\"in\":");
        cd_buf_str(b, bad_at.in);
        if (bad_at.name) {
            cd_buf_puts(b, ",\"name\":");
            cd_buf_str(b, bad_at.name);
        }
        cd_buf_putc(b, '}');
    }
    if (r->args.onnx && put_model(b, r) < 0) goto out;
    gd_put_stats(b, r, ex, t);
    t->encode_ms += gd_now_ms() - t0;
    rc = 0;
out:
    for (int k = 0; k < n && s1 && s2; k++) {
        gd_tensor_free(&s1[k]);
        gd_tensor_free(&s2[k]);
    }
    free(grads);
    buffers_free(&bf);
    free(outs);
    free(s1);
    free(s2);
    free(vals);
    free(losses);
    gd_program_done(r, ex);
    return rc;
}

/* testutil.c -- see testutil.h. */
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gr_shape tu_shape(int rank, ...) {
    gr_shape s;
    memset(&s, 0, sizeof s);
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++) s.dims[i] = va_arg(ap, int);
    va_end(ap);
    s.rank = rank;
    return s;
}

double *tu_eval(const gr_graph *g, const tu_bind *binds, int nbinds, const int *outs, int nouts) {
    gr_error err;
    gr_error_clear(&err);
    gr_exec *e = gr_compile(g, outs, nouts, &err);
    if (!e) fail_msg("compile: %s", err.message);
    gr_dtype dt = gr_graph_dtype(g);
    void **bufs = calloc((size_t)nbinds + 1, sizeof *bufs);
    for (int i = 0; i < nbinds; i++) {
        int64_t n = gr_node_numel(g, binds[i].id);
        if (dt == GR_F32) {
            float *f = malloc((size_t)n * sizeof *f + 1);
            for (int64_t j = 0; j < n; j++) f[j] = (float)binds[i].data[j];
            bufs[i] = f;
        } else {
            double *d = malloc((size_t)n * sizeof *d + 1);
            if (n) memcpy(d, binds[i].data, (size_t)n * sizeof *d);
            bufs[i] = d;
        }
        if (gr_exec_needs(e, binds[i].id)) TU_OK(gr_exec_bind(e, binds[i].id, bufs[i], &err), err);
    }
    TU_OK(gr_exec_run(e, &err), err);
    int64_t total = 0;
    for (int i = 0; i < nouts; i++) total += gr_node_numel(g, outs[i]);
    double *res = malloc((size_t)total * sizeof *res + 1), *p = res;
    for (int i = 0; i < nouts; i++) {
        const void *v = gr_exec_value(e, outs[i]);
        int64_t n = gr_node_numel(g, outs[i]);
        for (int64_t j = 0; j < n; j++) *p++ = dt == GR_F32 ? (double)((const float *)v)[j] : ((const double *)v)[j];
    }
    for (int i = 0; i < nbinds; i++) free(bufs[i]);
    free(bufs);
    gr_exec_free(e);
    return res;
}

double *tu_eval1(const gr_graph *g, const tu_bind *binds, int nbinds, int out) {
    return tu_eval(g, binds, nbinds, &out, 1);
}

int tu_apply(gr_graph *g, const char *op, const int *operands, int n, const gr_attrs *attrs) {
    gr_error err;
    gr_error_clear(&err);
    const gr_op *o = gr_op_find(op);
    if (!o) fail_msg("no op '%s'", op);
    int id = gr_graph_apply(g, NULL, o, operands, n, attrs, &err);
    if (id < 0) fail_msg("apply %s: %s", op, err.message);
    return id;
}

int tu_op1(gr_graph *g, const char *op, int a) { return tu_apply(g, op, &a, 1, NULL); }
int tu_op2(gr_graph *g, const char *op, int a, int b) {
    int ops[2] = {a, b};
    return tu_apply(g, op, ops, 2, NULL);
}

static uint64_t rng_state = 88172645463325252ull;
void tu_seed(uint64_t s) { rng_state = s ? s : 88172645463325252ull; }
double tu_uniform(double lo, double hi) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return lo + (hi - lo) * (double)(rng_state >> 11) / 9007199254740992.0;
}

float *tu_random_floats(int64_t n, float lo, float hi) {
    float *v = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (int64_t i = 0; i < n; i++) v[i] = (float)tu_uniform(lo, hi);
    return v;
}

void tu_set_threads(int n) {
    gr_error err;
    gr_error_clear(&err);
    TU_OK(gr_set_threads(n, &err), err);
}

void tu_close(double a, double b, double atol, double rtol, const char *what) {
    if (!(fabs(a - b) <= atol + rtol * fabs(b))) fail_msg("%s: got %.17g, want %.17g", what, a, b);
}

uint64_t tu_rand64(void) {
    static uint64_t state = 0x9E3779B97F4A7C15ull;
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* testutil.h -- helpers shared by the libgrad unit tests: build shapes,
 * evaluate nodes of a graph with values given as doubles in any dtype. */
#ifndef GRAD_TESTUTIL_H
#define GRAD_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "grad.h"

/* A shape from rank dims: tu_shape(2, 3, 4) is [3, 4]. */
gr_shape tu_shape(int rank, ...);

/* A value for one input or param: numel doubles, converted to the graph's
 * dtype on binding. */
typedef struct tu_bind {
    int id;
    const double *data;
} tu_bind;

/* Compile outs, bind, run, and return every output's values converted to
 * double, concatenated in order (caller frees). Fails the test on error. */
double *tu_eval(const gr_graph *g, const tu_bind *binds, int nbinds, const int *outs, int nouts);

/* tu_eval of one output node; its numel values (caller frees). */
double *tu_eval1(const gr_graph *g, const tu_bind *binds, int nbinds, int out);

/* Fail the test with err's message when st is not GR_OK. */
#define TU_OK(st, err)                                                                                                \
    do {                                                                                                              \
        gr_status st_ = (st);                                                                                         \
        if (st_ != GR_OK) fail_msg("%s: %s (node '%s')", gr_status_name(st_), (err).message, (err).node);            \
    } while (0)

/* Add an op node by ids, failing the test on error. */
int tu_apply(gr_graph *g, const char *op, const int *operands, int n, const gr_attrs *attrs);
int tu_op1(gr_graph *g, const char *op, int a);
int tu_op2(gr_graph *g, const char *op, int a, int b);

/* Deterministic uniform doubles in [lo, hi) (xorshift; seed with tu_seed). */
void tu_seed(uint64_t s);
double tu_uniform(double lo, double hi);
/* n floats uniform in [lo, hi) (malloc'd; at least one). */
float *tu_random_floats(int64_t n, float lo, float hi);
/* gr_set_threads(n), asserted. */
void tu_set_threads(int n);
/* 64 deterministic random bits (splitmix64, its own sequence: the same in
 * every run of a test binary). */
uint64_t tu_rand64(void);

/* assert |a - b| <= atol + rtol * |b| with a message naming what. */
void tu_close(double a, double b, double atol, double rtol, const char *what);

#endif

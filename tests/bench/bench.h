/* bench.h -- what bench_lib.c's workloads share: errors, timing, data and
 * the graph-building wrappers (each dies with a message on a libgrad
 * error), so a workload file holds only its model and its check. */
#ifndef GRADD_BENCH_H
#define GRADD_BENCH_H

#include "grad.h"

#include <stdint.h>
#include <stdio.h>

/* One workload's figures, filled by its bench_* function. */
typedef struct result {
    double step_ms, compile_ms;
    double build_ms, grad_ms, plan_ms; /* compile_ms in phases */
    long steps;
    gr_exec_stats stats;
    int nodes;
    double flops;       /* torch_steps.py's count per step, 0 when none */
    char note[256];     /* checks, for a '#' line */
} result;

void bench_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void bench_check(gr_status st, const gr_error *err, const char *what);
double bench_now(void);
/* torch_steps.py's timeit: seconds per step, median over the reps. */
double bench_time_step(void (*step)(void *), void *ctx, double min_time, long *total_steps);
/* Compile phases: t0 graph_new, t1 forward built, t2 gr_grad done, t3 gr_compile done. */
void bench_phases(result *r, double t0, double t1, double t2, double t3);

double bench_uniform01(void); /* (0, 1), the workload's own stream */
double bench_randn(void);
void *bench_xmalloc(size_t n);

gr_graph *bench_new_graph(gr_dtype dt);
gr_shape bench_shape(int rank, const int64_t *dims);
/* A leaf (param != 0: a param, else an input) named name of shape s. */
int bench_leaf(gr_graph *g, int param, const char *name, const gr_shape *s);
void bench_finalize(gr_graph *g);
/* One node of op opname over n operands with attributes at (may be NULL). */
int bench_apply(gr_graph *g, const char *opname, const int *operands, int n, const gr_attrs *at);
void bench_grad(gr_graph *g, int loss, const int *wrt, int n, int *grads);
gr_exec *bench_compile(const gr_graph *g, const int *outs, int n);
void bench_bind(gr_exec *e, int id, const void *data);
void bench_run(gr_exec *e);
const void *bench_value(const gr_exec *e, int id);
/* One SGD step, in one gr_sgd_update_set as a training loop makes it, of
 * the count float32 params (n[k] elements at params[k]) by their
 * gradients, the run's values of nodes grads[k]. */
void bench_sgd(const gr_exec *e, int count, float *const *params, const int64_t *n, const int *grads, const gr_sgd *c);

/* A training workload's run, once everything is bound: run once and check
 * the first (float32) loss against want from an independent computation,
 * time step(ctx) into r, check the loss fell, and write r's note. */
void bench_train(result *r, const char *name, gr_exec *e, int loss, double want, void (*step)(void *), void *ctx,
                 double min_time);

/* The workloads defined outside bench_lib.c. */
void bench_gpt(double min_time, result *r);

#endif

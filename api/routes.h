/* routes.h -- what the route handlers share. Each handler turns a built
 * request into the body of a 200 response, or fails with r->e set. */
#ifndef GRADD_ROUTES_H
#define GRADD_ROUTES_H

#include "codec/buf.h"
#include "request.h"



/* The nodes to differentiate: "wrt" when given, else every param, else
 * every input. Returns the count (>= 1) or -1. names point into r. */
int gd_wrt(gd_req *r, int *ids, const char **names, int max);
/* "outputs" when given, else the loss. */
int gd_outputs(gd_req *r, int *ids, const char **names, int max);
/* The loss node, or -1 with a 400 naming /graph/loss. */
int gd_need_loss(gd_req *r);

/* Point ex at the current value of every leaf it reads, and at the
 * request's cancel flag. */
void gd_bind(gd_req *r, gr_exec *ex);
/* Compile outs and bind every leaf the program reads (timed into t). */
gr_exec *gd_compile(gd_req *r, const int *outs, int n, gd_timing *t);
/* The program for *outs: with a cached plan, its program and ids (*outs
 * and *n are replaced); else compiled now and, with a cache, kept for the
 * next request. Release it with gd_program_done. */
gr_exec *gd_program(gd_req *r, int **outs, int *n, gd_timing *t);
void gd_program_done(gd_req *r, gr_exec *ex);
/* Run once (timed into t). Over the call's work budget: fails with
 * r->deferred set, having run nothing. */
int gd_run(gd_req *r, gr_exec *ex, gd_timing *t);

/* "key": {names[i]: value of ids[i]}, after a comma unless first. */
void gd_put_map(cd_buf *b, gd_req *r, gr_exec *ex, const char *key, const char *const *names, const int *ids, int n,
                int first);
void gd_put_tensor(cd_buf *b, gd_req *r, const gr_shape *s, const void *data);
/* A shape as a JSON list of dims. */
void gd_put_dims(cd_buf *b, const gr_shape *s);
/* ,"stats":{...}} closing the response object. */
void gd_put_stats(cd_buf *b, gd_req *r, gr_exec *ex, const gd_timing *t);

int gd_route_forward(gd_req *r, cd_buf *b, gd_timing *t);
int gd_route_gradient(gd_req *r, cd_buf *b, gd_timing *t);
/* gradient with "trace": true (trace.c): values, gradients and every node's value and adjoint. */
int gd_route_gradient_trace(gd_req *r, cd_buf *b, gd_timing *t);
int gd_route_jvp(gd_req *r, cd_buf *b, gd_timing *t);
int gd_route_hvp(gd_req *r, cd_buf *b, gd_timing *t);
int gd_route_check(gd_req *r, cd_buf *b, gd_timing *t);
int gd_route_step(gd_req *r, cd_buf *b, gd_timing *t);
int gd_route_gradient_graph(gd_req *r, cd_buf *b, gd_timing *t);
int gd_route_shapes(gd_req *r, cd_buf *b, gd_timing *t);
/* The op catalogue (no request). */
void gd_route_ops(cd_buf *b);
/* POST /v1/graphs and GET /v1/graphs/{ref} (graphs.c): the graph store. */
void gd_route_graphs(const gd_call *call, const gd_route_spec *rt, gd_response *out);

#endif

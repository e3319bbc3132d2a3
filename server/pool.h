/* pool.h -- the compute pool: a fixed number of worker threads and a
 * bounded queue. It is what keeps OpenBLAS from being called by hundreds
 * of threads at once (Debian's build crashes then): only the workers call
 * it. A full queue is refused at once (the daemon answers 503). */
#ifndef GRADD_POOL_H
#define GRADD_POOL_H

typedef struct srv_pool srv_pool;
typedef void (*srv_job_fn)(void *arg);

/* Start workers threads, each with one OpenBLAS thread budget of blas
 * threads, admitting capacity jobs at most (workers + queue). NULL on
 * failure. */
srv_pool *srv_pool_new(int workers, int capacity, int blas_threads);
/* Admit fn(arg): at most workers + queue jobs are admitted (waiting or
 * running) at once. Returns 0, or -1 when that many are admitted or the
 * pool is stopping (the caller answers 503). */
int srv_pool_submit(srv_pool *p, srv_job_fn fn, void *arg);
/* The job is done with its slot (it calls this itself, before it hands its
 * result back, so the next request is admitted at once). */
void srv_pool_done(srv_pool *p);
/* Requests queued but not started, and being computed. */
int srv_pool_queued(srv_pool *p);
int srv_pool_running(srv_pool *p);
/* Finish every queued job, then join the workers and free the pool. */
void srv_pool_free(srv_pool *p);

#endif

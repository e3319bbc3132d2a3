/* pool.h -- the compute pool: a fixed number of worker threads and a
 * bounded queue. It is what keeps OpenBLAS from being called by hundreds
 * of threads at once (Debian's build crashes then): only the workers call
 * it. A full queue is refused at once (the daemon answers 503). */
#ifndef GRADD_POOL_H
#define GRADD_POOL_H

typedef struct gd_pool gd_pool;
typedef void (*gd_job_fn)(void *arg);

/* Start workers threads, each with one OpenBLAS thread budget of blas
 * threads, admitting capacity jobs at most (workers + queue). NULL on
 * failure. */
gd_pool *gd_pool_new(int workers, int capacity, int blas_threads);
/* Admit fn(arg): at most workers + queue jobs are admitted (waiting or
 * running) at once. Returns 0, or -1 when that many are admitted or the
 * pool is stopping (the caller answers 503). */
int gd_pool_submit(gd_pool *p, gd_job_fn fn, void *arg);
/* The job is done with its slot (it calls this itself, before it hands its
 * result back, so the next request is admitted at once). */
void gd_pool_done(gd_pool *p);
/* Requests queued but not started, and being computed. */
int gd_pool_queued(gd_pool *p);
int gd_pool_running(gd_pool *p);
/* Finish every queued job, then join the workers and free the pool. */
void gd_pool_free(gd_pool *p);

#endif

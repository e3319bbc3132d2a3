/* pool.c -- see pool.h. A ring buffer of jobs under one mutex; workers
 * sleep on a condition variable. */
#include "pool.h"

#include "grad.h"

#include <pthread.h>
#include <stdlib.h>

void openblas_set_num_threads(int n); /* OpenBLAS; declared here to keep cblas.h out of server/ */

typedef struct job {
    srv_job_fn fn;
    void *arg;
} job;

struct srv_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    job *ring;           /* (capacity) */
    int capacity, head, count;  /* count: jobs waiting in the ring */
    int admitted;               /* waiting or running, not yet done */
    int running, stopping;
    int nthreads;
    pthread_t *threads;  /* (nthreads) */
};

static void *worker(void *arg) {
    srv_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (p->count == 0 && !p->stopping) pthread_cond_wait(&p->cv, &p->mu);
        if (p->count == 0) break; /* stopping, and nothing left */
        job j = p->ring[p->head];
        p->head = (p->head + 1) % p->capacity;
        p->count--;
        p->running++;
        pthread_mutex_unlock(&p->mu);
        j.fn(j.arg);
        pthread_mutex_lock(&p->mu);
        p->running--;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

srv_pool *srv_pool_new(int workers, int capacity, int blas_threads) {
    srv_pool *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    /* Capacity counts the jobs being computed too: a worker takes its job
     * out of the ring, so the ring holds only the waiting ones. */
    p->capacity = capacity > 0 ? capacity : 1;
    p->ring = calloc((size_t)p->capacity, sizeof *p->ring);
    p->threads = calloc((size_t)workers, sizeof *p->threads);
    if (!p->ring || !p->threads) goto fail;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    /* Set before any worker calls BLAS: a single process-wide budget, for
     * OpenBLAS's GEMMs and libgrad's kernels alike (a kernel thread that
     * cannot start leaves the kernels fewer, not the daemon down). */
    openblas_set_num_threads(blas_threads);
    gr_error gerr;
    gr_error_clear(&gerr);
    (void)gr_set_threads(blas_threads > 64 ? 64 : blas_threads, &gerr);
    for (int i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0) {
            p->nthreads = i;
            srv_pool_free(p);
            return NULL;
        }
        p->nthreads = i + 1;
    }
    return p;
fail:
    free(p->ring);
    free(p->threads);
    free(p);
    return NULL;
}

int srv_pool_submit(srv_pool *p, srv_job_fn fn, void *arg) {
    pthread_mutex_lock(&p->mu);
    if (p->stopping || p->admitted >= p->capacity) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    p->ring[(p->head + p->count) % p->capacity] = (job){fn, arg};
    p->count++;
    p->admitted++;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void srv_pool_done(srv_pool *p) {
    pthread_mutex_lock(&p->mu);
    p->admitted--;
    pthread_mutex_unlock(&p->mu);
}

int srv_pool_queued(srv_pool *p) {
    pthread_mutex_lock(&p->mu);
    int n = p->count;
    pthread_mutex_unlock(&p->mu);
    return n;
}

int srv_pool_running(srv_pool *p) {
    pthread_mutex_lock(&p->mu);
    int n = p->running;
    pthread_mutex_unlock(&p->mu);
    return n;
}

void srv_pool_free(srv_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++) pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p->ring);
    free(p->threads);
    free(p);
}

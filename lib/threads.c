/* threads.c -- libgrad's thread pool: kernels split their big loops across
 * gr_set_threads(n) threads (the calling thread is one of them), so one run
 * uses the cores the caller gives it, for the kernels as for OpenBLAS.
 *
 * The pool is process-wide, like OpenBLAS's: n - 1 worker threads started
 * once, sleeping on a condition variable between jobs; no thread per call.
 * One gr_parallel_for holds the pool at a time; a run on another thread
 * that finds it busy does its loop alone (several daemon workers never
 * oversubscribe the cores). */
#include "internal.h"

#include <pthread.h>
#include <stdatomic.h>

/* OpenBLAS's thread count (process-wide), for gr_parallel_for_gemms. */
void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

enum { POOL_MAX = 64 };

/* How long a thread polls before it sleeps: a worker waiting for the next
 * job, the caller waiting for the workers' parts. A step's kernels follow
 * each other within microseconds, and a condition variable's wake-up
 * costs tens of them (more in a VM): polling this long first (about 20 us)
 * keeps the pool's threads ready between the kernels of one run, and they
 * still sleep between runs. */
enum { SPIN_POLLS = 4000 };

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static struct {
    pthread_mutex_t lock;  /* guards the condition variables' waits and the pool's set-up */
    pthread_cond_t wake;   /* a new job (gen moved) */
    pthread_cond_t done;   /* pending reached 0 */
    pthread_mutex_t owner; /* held by the gr_parallel_for using the pool */
    int threads;           /* gr_set_threads' n: workers + the caller */
    int started;           /* worker threads alive (ids 1..started) */
    atomic_ulong gen;      /* job generation: stored (release) after the job's fields below */
    gr_par_fn fn;          /* the job: fn(ctx, range of part p of parts) over [0, n) */
    void *ctx;
    int64_t n;
    int parts;
    atomic_int pending;    /* workers not finished with the job (each worker takes every job, idle when its id >= parts) */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 1,
          0, 0, NULL, NULL, 0, 0, 0};

/* Part p of parts over [0, n): contiguous, sizes differing by at most one. */
static void part_range(int64_t n, int p, int parts, int64_t *i0, int64_t *i1) {
    *i0 = n / parts * p + (p < n % parts ? p : n % parts);
    *i1 = *i0 + n / parts + (p < n % parts ? 1 : 0);
}

/* The generation after seen: polled for a while, then slept for. */
static unsigned long next_job(unsigned long seen) {
    for (int i = 0; i < SPIN_POLLS; i++) {
        unsigned long g = atomic_load_explicit(&pool.gen, memory_order_acquire);
        if (g != seen) return g;
        cpu_relax();
    }
    pthread_mutex_lock(&pool.lock);
    unsigned long g;
    while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    return g;
}

/* The generation each worker was started at (the jobs before it are not its). */
static unsigned long start_gen[POOL_MAX];

/* Worker id: takes every job, runs part id of it when there is one, and
 * counts itself done, so the caller changes the job's fields only after
 * every worker is past reading them. */
static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    unsigned long seen = start_gen[id];
    for (;;) {
        seen = next_job(seen);
        if (id < pool.parts) {
            int64_t i0, i1;
            part_range(pool.n, id, pool.parts, &i0, &i1);
            pool.fn(pool.ctx, i0, i1);
        }
        if (atomic_fetch_sub_explicit(&pool.pending, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&pool.lock); /* the caller may be between its check and its wait */
            pthread_cond_signal(&pool.done);
            pthread_mutex_unlock(&pool.lock);
        }
    }
    return NULL;
}

/* Wait until every worker is done with the job: polled, then slept. */
static void wait_parts(void) {
    for (int i = 0; i < SPIN_POLLS; i++) {
        if (atomic_load_explicit(&pool.pending, memory_order_acquire) == 0) return;
        cpu_relax();
    }
    pthread_mutex_lock(&pool.lock);
    while (atomic_load_explicit(&pool.pending, memory_order_acquire) > 0) pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
}

gr_status gr_set_threads(int n, gr_error *err) {
    if (n < 1 || n > POOL_MAX)
        return gr_fail(err, GR_E_ARG, NULL, -1, "threads must be in [1, %d], not %d", POOL_MAX, n);
    pthread_mutex_lock(&pool.owner); /* no job in flight while the pool changes */
    pthread_mutex_lock(&pool.lock);
    gr_status st = GR_OK;
    while (pool.started < n - 1) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        start_gen[pool.started + 1] = atomic_load(&pool.gen);
        int rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)(pool.started + 1));
        pthread_attr_destroy(&attr);
        if (rc != 0) {
            st = gr_fail(err, GR_E_NOMEM, NULL, -1, "could not start a kernel thread (%d running)", pool.started);
            break;
        }
        pool.started++;
    }
    pool.threads = pool.started + 1 < n ? pool.started + 1 : n;
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.owner);
    return st;
}

int gr_threads(void) {
    pthread_mutex_lock(&pool.lock);
    int n = pool.threads;
    pthread_mutex_unlock(&pool.lock);
    return n;
}

/* gr_parallel_for, with OpenBLAS at blas1 threads while the parts run
 * in parallel when blas1 > 0. */
static void parallel_for(int64_t n, int64_t grain, gr_par_fn fn, void *ctx, int blas1) {
    int64_t most = grain > 0 ? n / grain : n; /* parts of at least grain each */
    if (most < 2 || pthread_mutex_trylock(&pool.owner) != 0) {
        if (n > 0) fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    if (pool.threads < 2) {
        pthread_mutex_unlock(&pool.lock);
        pthread_mutex_unlock(&pool.owner);
        fn(ctx, 0, n);
        return;
    }
    int parts = pool.threads < most ? pool.threads : (int)most;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.parts = parts;
    atomic_store_explicit(&pool.pending, pool.started, memory_order_relaxed);
    int blas_before = blas1 ? openblas_get_num_threads() : 0;
    if (blas1) openblas_set_num_threads(1);
    atomic_fetch_add_explicit(&pool.gen, 1, memory_order_release); /* publishes the fields above */
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    int64_t i0, i1;
    part_range(n, 0, parts, &i0, &i1);
    fn(ctx, i0, i1);
    wait_parts();
    if (blas1) openblas_set_num_threads(blas_before);
    pthread_mutex_unlock(&pool.owner);
}

void gr_parallel_for(int64_t n, int64_t grain, gr_par_fn fn, void *ctx) { parallel_for(n, grain, fn, ctx, 0); }

void gr_parallel_for_gemms(int64_t n, int64_t grain, gr_par_fn fn, void *ctx) { parallel_for(n, grain, fn, ctx, 1); }

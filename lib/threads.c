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

enum { POOL_MAX = GR_THREADS_MAX };

/* How long a thread polls before it sleeps: a worker waiting for the next
 * job, the caller waiting for the workers' parts. A step's kernels follow
 * each other within microseconds, and a condition variable's wake-up
 * costs tens of them (more in a VM): polling this long first (about 20 us)
 * keeps the pool's threads ready between the kernels of one run, and they
 * still sleep between runs. */
enum { SPIN_POLLS = 4000 };

/* Parts per thread of a job that calls no BLAS. */
enum { PARTS_PER_THREAD = 4 };

/* Parts per slot, at most, of a slot job (gr_parallel_for_slots). The two
 * cores of this project's VMs often run at different speeds (a tenant on
 * one's sibling: cnn-step took 4.2 ms on one core and 5.5 ms on the other,
 * flipping within the hour), and a job cut in one part per thread lasts
 * as long as the slow core's half. In parts of an eighth of a thread's
 * share, taken as threads come free, the fast core takes the more. */
enum { SLOT_PARTS = 8 };

/* Groups per slot, at most, of a sum shared by slot threads
 * (gr_parallel_groups): each group costs a partial and its add. */
enum { GROUPS_PER_SLOT = 4 };

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static struct {
    pthread_mutex_t lock;  /* guards the condition variables' waits and the pool's set-up */
    pthread_cond_t wake;   /* a new job (gen moved) */
    pthread_cond_t done;   /* the job's last part finished */
    pthread_mutex_t owner; /* held by the gr_parallel_for using the pool */
    int threads;           /* gr_set_threads' n: workers + the caller */
    int started;           /* worker threads alive (ids 1..started) */
    atomic_ulong gen;      /* job generation: stored (release) after the job's fields below */
    /* The job: fn(ctx, range of part p of parts) over [0, n). Written
     * before the blocks that hand its parts out, and unchanged until all
     * its parts are done. */
    gr_par_fn fn;
    void *ctx;
    int64_t n;
    int parts;             /* fixed by n, grain and the thread count alone */
    atomic_int owners;     /* threads whose block of the parts is theirs first: ids [0, owners) */
    atomic_int parts_done; /* parts of the job finished */
    atomic_int sleepers;   /* workers waiting on wake */
    unsigned long pokes;   /* gr_parallel_wake calls (under lock) */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, 1,
          0, 0, NULL, NULL, 0, 0, 0, 0, 0, 0};

/* Thread id's block of a job's parts, in one word on a cache line of its
 * own: the job's tag (its generation's low 32 bits), the block's end and
 * its next part not yet taken. A thread takes a part by moving next on,
 * only while the tag is its job's: a thread that wakes after its job is
 * over finds another tag and touches nothing of it. */
static struct block {
    _Atomic uint64_t word; /* tag << 32 | end << 16 | next */
    char pad[64 - sizeof(uint64_t)];
} blocks[POOL_MAX];

enum { PART_BITS = 16 };
_Static_assert(POOL_MAX * PARTS_PER_THREAD < 1 << PART_BITS && POOL_MAX * SLOT_PARTS < 1 << PART_BITS,
               "a job's parts fit a block word");

/* The slot of the thread running a part: its id in the job (the caller
 * 0), or 0 for a loop run alone. */
static _Thread_local int running_slot;

int gr_parallel_slot(void) { return running_slot; }

static uint64_t block_word(uint32_t tag, int end, int next) {
    return (uint64_t)tag << 32 | (uint64_t)end << PART_BITS | (uint64_t)next;
}

/* Part p of parts over [0, n): contiguous, sizes differing by at most one. */
static void part_range(int64_t n, int p, int parts, int64_t *i0, int64_t *i1) {
    *i0 = n / parts * p + (p < n % parts ? p : n % parts);
    *i1 = *i0 + n / parts + (p < n % parts ? 1 : 0);
}

/* Part p of the job's parts: with as many parts in each owner's block,
 * owner b's parts cut the b-th of `owners` equal slabs of [0, n) (22
 * chunks in 16 parts gave the first block 14 and the second 8, and the
 * thread done first took chunks the other had the data of); else part p
 * of parts over [0, n). */
static void job_part_range(int p, int parts, int64_t *i0, int64_t *i1) {
    int owners = atomic_load_explicit(&pool.owners, memory_order_relaxed);
    if (parts % owners != 0) {
        part_range(pool.n, p, parts, i0, i1);
        return;
    }
    int per = parts / owners;
    int64_t b0, b1, s0, s1;
    part_range(pool.n, p / per, owners, &b0, &b1);
    part_range(b1 - b0, p % per, per, &s0, &s1);
    *i0 = b0 + s0;
    *i1 = b0 + s1;
}

/* ran parts of a job of parts parts are done; the last wakes the caller
 * if it sleeps. (parts is read before: once the last is counted, the
 * caller may set up its next job.) A thread counts its parts once, when
 * it finds no more to take: each count is a write to a line both cores
 * share. */
static void parts_done(int ran, int parts) {
    if (atomic_fetch_add_explicit(&pool.parts_done, ran, memory_order_acq_rel) + ran == parts) {
        pthread_mutex_lock(&pool.lock); /* the caller may be between its check and its wait */
        pthread_cond_signal(&pool.done);
        pthread_mutex_unlock(&pool.lock);
    }
}

/* Run the parts of block b of the job tagged tag not yet taken, one at a
 * time; returns how many, with *parts the job's part count when any. The
 * job's fields are read only once a part of it is taken: the job cannot
 * end before that part is counted. */
static int take_block(int b, uint32_t tag, int *parts) {
    uint64_t w = atomic_load_explicit(&blocks[b].word, memory_order_acquire);
    int ran = 0;
    for (;;) {
        int next = (int)(w & ((1u << PART_BITS) - 1)), end = (int)(w >> PART_BITS & ((1u << PART_BITS) - 1));
        if ((uint32_t)(w >> 32) != tag || next >= end) return ran;
        if (!atomic_compare_exchange_weak_explicit(&blocks[b].word, &w, w + 1, memory_order_acq_rel,
                                                   memory_order_acquire))
            continue; /* w is the word now */
        int64_t i0, i1;
        *parts = pool.parts;
        job_part_range(next, *parts, &i0, &i1);
        pool.fn(pool.ctx, i0, i1);
        ran++;
        w = atomic_load_explicit(&blocks[b].word, memory_order_acquire);
    }
}

/* Thread id's share of the job tagged tag: its own block of parts in
 * order (the range the same thread had in the kernels before, so the
 * data it wrote is still in its cache), then what is left of the others'
 * blocks. A thread that wakes late (a sleeping thread's wake-up takes tens
 * of microseconds, more in a VM) finds its parts done by the others, and
 * the caller returns without waiting for it. Which thread runs a part
 * never changes what it computes. */
static void take_parts(int id, uint32_t tag) {
    /* (a later job's count only makes a late thread look at more blocks) */
    int owners = atomic_load_explicit(&pool.owners, memory_order_relaxed);
    if (id >= owners) return;
    running_slot = id;
    int ran = 0, parts = 0;
    for (int i = 0; i < owners; i++) ran += take_block((id + i) % owners, tag, &parts);
    if (ran) parts_done(ran, parts);
}

/* The generation after seen: polled for a while, then slept for; a
 * gr_parallel_wake while asleep starts the polling again. */
static unsigned long next_job(unsigned long seen) {
    for (;;) {
        for (int i = 0; i < SPIN_POLLS; i++) {
            unsigned long g = atomic_load_explicit(&pool.gen, memory_order_acquire);
            if (g != seen) return g;
            cpu_relax();
        }
        pthread_mutex_lock(&pool.lock);
        unsigned long g, pokes = pool.pokes;
        atomic_fetch_add_explicit(&pool.sleepers, 1, memory_order_relaxed);
        while ((g = atomic_load_explicit(&pool.gen, memory_order_acquire)) == seen && pool.pokes == pokes)
            pthread_cond_wait(&pool.wake, &pool.lock);
        atomic_fetch_sub_explicit(&pool.sleepers, 1, memory_order_relaxed);
        pthread_mutex_unlock(&pool.lock);
        if (g != seen) return g;
    }
}

void gr_parallel_wake(void) {
    if (atomic_load_explicit(&pool.sleepers, memory_order_relaxed) == 0) return;
    pthread_mutex_lock(&pool.lock);
    pool.pokes++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
}

/* The generation each worker was started at (the jobs before it are not its). */
static unsigned long start_gen[POOL_MAX];

/* Worker id: runs what is left of each new job's parts. */
static void *worker(void *arg) {
    int id = (int)(intptr_t)arg;
    unsigned long seen = start_gen[id];
    for (;;) {
        seen = next_job(seen);
        take_parts(id, (uint32_t)seen);
    }
    return NULL;
}

/* Wait until every part of the job is done: polled, then slept. */
static void wait_parts(void) {
    for (int i = 0; i < SPIN_POLLS; i++) {
        if (atomic_load_explicit(&pool.parts_done, memory_order_acquire) == pool.parts) return;
        cpu_relax();
    }
    pthread_mutex_lock(&pool.lock);
    while (atomic_load_explicit(&pool.parts_done, memory_order_acquire) < pool.parts)
        pthread_cond_wait(&pool.done, &pool.lock);
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

/* fn over [0, n) alone, in slot 0 (a part of another job may be calling). */
static void run_alone(int64_t n, gr_par_fn fn, void *ctx) {
    if (n <= 0) return;
    int slot = running_slot;
    running_slot = 0;
    fn(ctx, 0, n);
    running_slot = slot;
}

/* gr_parallel_for, with OpenBLAS at blas1 threads while the parts run
 * in parallel when blas1 > 0, by at most slots threads (0: any number)
 * in up to per_thread parts each. */
static void parallel_for(int64_t n, int64_t grain, gr_par_fn fn, void *ctx, int blas1, int64_t slots,
                         int per_thread) {
    int64_t most = grain > 0 ? n / grain : n; /* parts of at least grain each */
    if (most < 2 || slots == 1 || pthread_mutex_trylock(&pool.owner) != 0) {
        run_alone(n, fn, ctx);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    int owners = pool.threads;
    if (slots > 0 && slots < owners) owners = (int)slots;
    if (owners < 2) {
        pthread_mutex_unlock(&pool.lock);
        pthread_mutex_unlock(&pool.owner);
        run_alone(n, fn, ctx);
        return;
    }
    int64_t cap = (int64_t)owners * per_thread;
    unsigned long gen = atomic_load_explicit(&pool.gen, memory_order_relaxed) + 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    int64_t parts = cap < most ? cap : most;
    /* as many parts in each owner's block: a thread's own share of one
     * loop is then the same slab of rows as of the next over the same
     * rows (gpt-step's concat after the head transposes, in 5 parts, had
     * a thread read a fifth of its rows from the other core's cache) */
    if (parts > owners) parts -= parts % owners;
    pool.parts = (int)parts;
    atomic_store_explicit(&pool.owners, owners, memory_order_relaxed);
    atomic_store_explicit(&pool.parts_done, 0, memory_order_relaxed);
    for (int b = 0; b < owners; b++) { /* release: the fields above come with the word */
        int64_t p0, p1;
        part_range(pool.parts, b, owners, &p0, &p1);
        atomic_store_explicit(&blocks[b].word, block_word((uint32_t)gen, (int)p1, (int)p0), memory_order_release);
    }
    int blas_before = blas1 ? openblas_get_num_threads() : 0;
    if (blas1) openblas_set_num_threads(1);
    atomic_store_explicit(&pool.gen, gen, memory_order_release);
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);
    take_parts(0, (uint32_t)gen);
    wait_parts();
    if (blas1) openblas_set_num_threads(blas_before);
    pthread_mutex_unlock(&pool.owner);
}

/* A job that calls no BLAS: up to PARTS_PER_THREAD parts each, so a late
 * thread's share is small. */
void gr_parallel_for(int64_t n, int64_t grain, gr_par_fn fn, void *ctx) {
    parallel_for(n, grain, fn, ctx, 0, 0, PARTS_PER_THREAD);
}

/* A BLAS job: one part per thread (each part's GEMMs as big as they can be). */
void gr_parallel_for_gemms(int64_t n, int64_t grain, gr_par_fn fn, void *ctx) {
    parallel_for(n, grain, fn, ctx, 1, 0, 1);
}

void gr_parallel_for_slots(int64_t n, int64_t grain, int64_t slots, gr_par_fn fn, void *ctx) {
    parallel_for(n, grain, fn, ctx, 1, slots < 1 ? 1 : slots, SLOT_PARTS);
}

int64_t gr_parallel_groups(int64_t n, int64_t slots, int64_t partial_bytes) {
    if (n < 1 || slots <= 1) return 1;
    int64_t groups = slots * GROUPS_PER_SLOT, room = partial_bytes > 0 ? GR_PARTIALS_BYTES / partial_bytes : groups;
    if (groups > room) groups = room > slots ? room : slots;
    return groups < n ? groups : n;
}

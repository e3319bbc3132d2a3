/* config.c -- see config.h. One table lists every setting once: its flag,
 * its variable, its default and its help line. */
#define _GNU_SOURCE
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum kind { K_INT, K_I64, K_SIZE, K_STR } kind;

typedef struct setting {
    const char *flag;     /* without the leading -- */
    kind k;
    size_t off;           /* into srv_config */
    size_t cap;           /* K_STR buffer size */
    int64_t lo, hi;       /* K_INT/K_I64/K_SIZE range */
    const char *help;
} setting;

#define OFF(f) offsetof(srv_config, f)
#define STR(f) OFF(f), sizeof(((srv_config *)0)->f)

static const setting settings[] = {
    {"port", K_INT, OFF(port), 0, 0, 65535, "TCP port (0: any free port)"},
    {"bind", K_STR, STR(bind), 0, 0, "address to listen on"},
    {"workers", K_INT, OFF(workers), 0, 1, 256, "compute threads (default: CPUs / blas-threads)"},
    {"blas-threads", K_INT, OFF(blas_threads), 0, 1, 256, "threads per request (OpenBLAS and libgrad kernels)"},
    {"io-threads", K_INT, OFF(io_threads), 0, 1, 64, "HTTP I/O threads (poll)"},
    {"queue", K_INT, OFF(queue), 0, 0, 100000, "requests that may wait for a worker before 503"},
    {"deadline-ms", K_INT, OFF(deadline_ms), 0, 1, 86400000, "compute time per request before 504"},
    {"idle-timeout-s", K_INT, OFF(idle_timeout_s), 0, 1, 3600, "close connections idle this long"},
    {"header-timeout-s", K_INT, OFF(header_timeout_s), 0, 1, 3600,
     "time for a request's whole header section (then closed, logged 408)"},
    {"body-timeout-s", K_INT, OFF(body_timeout_s), 0, 1, 3600,
     "time for a body, plus 1 s per --min-body-rate bytes received (then closed, 408)"},
    {"min-body-rate", K_INT, OFF(min_body_rate), 0, 1, 1 << 30, "bytes per second a body upload must average"},
    {"grace-s", K_INT, OFF(grace_s), 0, 0, 3600, "SIGTERM: time for requests in flight"},
    {"max-connections", K_INT, OFF(max_connections), 0, 1, 1000000, "open connections"},
    {"connection-buffer-bytes", K_INT, OFF(connection_buffer_bytes), 0, 32768, 64 << 20,
     "memory per connection for its headers and body reads (at least 4 x --max-header-bytes)"},
    {"max-header-bytes", K_INT, OFF(max_header_bytes), 0, 1024, 16 << 20,
     "request line and headers together (431 past it, 414 for the URI alone)"},
    {"cache-entries", K_INT, OFF(cache_entries), 0, 0, 100000, "compiled graphs kept (LRU; 0: off)"},
    {"cache-bytes", K_I64, OFF(cache_bytes), 0, 0, INT64_MAX,
     "memory the kept graphs may hold, programs and arenas included (0: off)"},
    {"graph-store-bytes", K_I64, OFF(graph_store_bytes), 0, 0, INT64_MAX,
     "memory the graph store (POST /v1/graphs) may hold, LRU (0: off; default min(256 MiB, memory / 8))"},
    {"graph-dir", K_STR, STR(graph_dir), 0, 0,
     "directory where stored graphs persist across restarts (\"\": none; loaded and checked at start)"},
    {"inline-max-bytes", K_INT, OFF(inline_max_bytes), 0, 0, 1 << 20,
     "bodies up to this much JSON text (8x as much binary) run on the I/O thread when their work is small (0: never)"},
    {"max-inflight-bytes", K_I64, OFF(max_inflight_bytes), 0, 1, INT64_MAX,
     "memory for request bodies in flight and the JSON trees they may become, daemon-wide (503 past it; "
     "default: half the cgroup memory limit, else half of physical memory)"},
    {"cors-origins", K_STR, STR(cors_origins), 0, 0, "allowed CORS origins, comma-separated (\"*\": any)"},
    {"api-keys", K_STR, STR(api_keys), 0, 0, "bearer keys for /v1, comma-separated (empty: no auth)"},
    {"log-format", K_STR, STR(log_format), 0, 0, "text or json"},
    {"openapi", K_STR, STR(openapi), 0, 0, "path of openapi.yaml, served as /openapi.json"},
    {"web-root", K_STR, STR(web_root), 0, 0, "directory served at / (the playground)"},
    {"max-body-bytes", K_SIZE, OFF(limits.max_body_bytes), 0, 1, INT64_MAX, "request body bytes (413 above)"},
    {"max-depth", K_INT, OFF(limits.max_depth), 0, 1, 1000, "JSON nesting"},
    {"max-nodes", K_I64, OFF(limits.max_nodes), 0, 1, INT64_MAX, "graph nodes, gradients included"},
    {"max-rank", K_INT, OFF(limits.max_rank), 0, 0, 8, "tensor rank"},
    {"max-elements", K_I64, OFF(limits.max_elements), 0, 1, INT64_MAX, "elements of one tensor"},
    {"max-total-bytes", K_I64, OFF(limits.max_total_bytes), 0, 1, INT64_MAX, "bytes of a request's tensors and plan"},
    {"max-tree-bytes", K_I64, OFF(limits.max_tree_bytes), 0, 1, INT64_MAX,
     "memory a request's parsed JSON may take (also at most 24 x its body + 1 MiB)"},
    {"max-expr-len", K_SIZE, OFF(limits.max_expr_len), 0, 1, INT64_MAX, "bytes of one expression"},
    {"max-steps", K_I64, OFF(limits.max_steps), 0, 1, INT64_MAX, "optimizer steps per request"},
    {"max-check-elements", K_I64, OFF(limits.max_check_elements), 0, 1, INT64_MAX, "elements /v1/check perturbs"},
};
#define NSETTINGS ((int)(sizeof settings / sizeof settings[0]))

int srv_cpus_allowed(void) {
    int cpus = 0;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
    if (cpus <= 0) cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (cpus <= 0) cpus = 1;
    /* cgroup v2: "max 100000" or "<quota> <period>" */
    FILE *f = fopen("/sys/fs/cgroup/cpu.max", "r");
    long long quota = -1, period = 0;
    if (f) {
        char q[32];
        if (fscanf(f, "%31s %lld", q, &period) == 2 && strcmp(q, "max") != 0) quota = atoll(q);
        fclose(f);
    } else if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "r"))) { /* cgroup v1 */
        if (fscanf(f, "%lld", &quota) != 1) quota = -1;
        fclose(f);
        if ((f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r"))) {
            if (fscanf(f, "%lld", &period) != 1) period = 0;
            fclose(f);
        }
    }
    if (quota > 0 && period > 0) {
        int q = (int)((quota + period - 1) / period);
        if (q >= 1 && q < cpus) cpus = q;
    }
    return cpus;
}

/* A cgroup memory limit file's value: bytes, or -1 for "max", absent or unreadable. */
static int64_t read_limit(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char v[32] = "";
    int ok = fscanf(f, "%31s", v) == 1;
    fclose(f);
    if (!ok || !strcmp(v, "max")) return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    return errno || end == v || *end || x <= 0 ? -1 : x;
}

int64_t srv_memory_allowed(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    int64_t phys = pages > 0 && page > 0 ? (int64_t)pages * page : (int64_t)1 << 30;
    int64_t lim = read_limit("/sys/fs/cgroup/memory.max");                  /* cgroup v2 */
    if (lim < 0) lim = read_limit("/sys/fs/cgroup/memory/memory.limit_in_bytes"); /* v1: ~2^63 when unset */
    return lim > 0 && lim < phys ? lim : phys;
}

static void defaults(srv_config *c) {
    memset(c, 0, sizeof *c);
    c->port = 8080;
    snprintf(c->bind, sizeof c->bind, "0.0.0.0");
    c->blas_threads = 1;
    c->io_threads = 2;
    c->queue = 64;
    c->deadline_ms = 30000;
    c->idle_timeout_s = 30;
    c->header_timeout_s = 20;
    c->body_timeout_s = 20;
    c->min_body_rate = 1024;
    c->grace_s = 25;
    c->max_connections = 4096;
    c->connection_buffer_bytes = 0; /* auto: connection_buffer_auto */
    c->max_header_bytes = 0;        /* auto: a quarter of the buffer, at most 32 KiB */
    c->cache_entries = 256;
    c->cache_bytes = (int64_t)256 << 20;
    c->graph_store_bytes = srv_memory_allowed() / 8 < ((int64_t)256 << 20) ? srv_memory_allowed() / 8
                                                                           : ((int64_t)256 << 20);
    c->inline_max_bytes = 128 * 1024;
    c->max_inflight_bytes = srv_memory_allowed() / 2;
    snprintf(c->log_format, sizeof c->log_format, "text");
    snprintf(c->openapi, sizeof c->openapi, "api/openapi.yaml");
    snprintf(c->web_root, sizeof c->web_root, "clients/web");
    c->limits = gd_limits_default();
}

/* GRADD_ + the flag in upper case with '-' as '_'. */
static void env_name(const char *flag, char *out, size_t cap) {
    size_t n = (size_t)snprintf(out, cap, "GRADD_");
    for (const char *p = flag; *p && n + 1 < cap; p++) out[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    out[n] = '\0';
}

static int set(srv_config *c, const setting *s, const char *v, const char *from) {
    char *field = (char *)c + s->off;
    if (s->k == K_STR) {
        if (strlen(v) >= s->cap) {
            fprintf(stderr, "gradd: %s: the value is longer than %zu bytes\n", from, s->cap - 1);
            return -1;
        }
        snprintf(field, s->cap, "%s", v);
        return 0;
    }
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < s->lo || x > s->hi) {
        fprintf(stderr, "gradd: %s: \"%s\" is not a whole number in [%lld, %lld]\n", from, v, (long long)s->lo,
                (long long)s->hi);
        return -1;
    }
    if (s->k == K_INT) *(int *)field = (int)x;
    else if (s->k == K_I64) *(int64_t *)field = x;
    else *(size_t *)field = (size_t)x;
    return 0;
}

static void help(const srv_config *d) {
    printf("usage: gradd serve [--flag value]...\n"
           "Every flag can also be set by the environment variable shown; flags win.\n\n");
    for (int i = 0; i < NSETTINGS; i++) {
        const setting *s = &settings[i];
        char env[64], def[64];
        env_name(s->flag, env, sizeof env);
        const char *field = (const char *)d + s->off;
        if (s->k == K_STR) snprintf(def, sizeof def, "\"%s\"", field);
        else if (s->k == K_INT) snprintf(def, sizeof def, "%d", *(const int *)field);
        else if (s->k == K_I64) snprintf(def, sizeof def, "%lld", (long long)*(const int64_t *)field);
        else snprintf(def, sizeof def, "%zu", *(const size_t *)field);
        if (!strcmp(s->flag, "workers") || ((!strcmp(s->flag, "connection-buffer-bytes") ||
                                             !strcmp(s->flag, "max-header-bytes")) && *(const int *)field == 0))
            snprintf(def, sizeof def, "auto");
        printf("  --%-20s %-28s %s (default %s)\n", s->flag, env, s->help, def);
    }
}

/* The connection buffer when none is given: 128 KiB (a 45 MB body read in
 * 13 ms, against 30 ms in libmicrohttpd's 32 KiB), unless --max-connections
 * of them would take more than an eighth of the memory allowed (a
 * container's limit): then that share, at least 32 KiB. (Four times a
 * --max-header-bytes that was given, when that is more.) */
static int connection_buffer_auto(const srv_config *c) {
    int64_t share = srv_memory_allowed() / 8 / c->max_connections / 4096 * 4096;
    return share >= 128 * 1024 ? 128 * 1024 : share <= 32 * 1024 ? 32 * 1024 : (int)share;
}

int srv_config_load(srv_config *c, int argc, char **argv) {
    defaults(c);
    for (int i = 0; i < NSETTINGS; i++) {
        char env[64];
        env_name(settings[i].flag, env, sizeof env);
        const char *v = getenv(env);
        if (v && set(c, &settings[i], v, env) < 0) return -1;
    }
    for (int a = 0; a < argc; a++) {
        if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
            srv_config d;
            defaults(&d);
            help(&d);
            return 1;
        }
        const char *arg = argv[a];
        if (strncmp(arg, "--", 2) != 0) {
            fprintf(stderr, "gradd: unexpected argument \"%s\" (see gradd serve --help)\n", arg);
            return -1;
        }
        const char *name = arg + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const setting *s = NULL;
        for (int i = 0; i < NSETTINGS && !s; i++)
            if (strlen(settings[i].flag) == nlen && !strncmp(settings[i].flag, name, nlen)) s = &settings[i];
        if (!s) {
            fprintf(stderr, "gradd: unknown flag \"%s\" (see gradd serve --help)\n", arg);
            return -1;
        }
        const char *v = eq ? eq + 1 : (a + 1 < argc ? argv[++a] : NULL);
        if (!v) {
            fprintf(stderr, "gradd: %s needs a value\n", arg);
            return -1;
        }
        if (set(c, s, v, arg) < 0) return -1;
    }
    /* workers x BLAS threads never exceed the CPUs this process may use */
    c->cpus = srv_cpus_allowed();
    int most = c->cpus / c->blas_threads;
    if (most < 1) {
        c->blas_threads = c->cpus;
        most = 1;
    }
    if (c->workers == 0 || c->workers > most) c->workers = most;
    if (strcmp(c->log_format, "text") && strcmp(c->log_format, "json")) {
        fprintf(stderr, "gradd: --log-format must be text or json\n");
        return -1;
    }
    if (!c->connection_buffer_bytes) { /* room for a header limit that was given */
        int need = c->max_header_bytes * 4, autov = connection_buffer_auto(c);
        c->connection_buffer_bytes = need > autov ? need : autov;
    }
    if (!c->max_header_bytes) {
        int quarter = c->connection_buffer_bytes / 4;
        c->max_header_bytes = quarter < 32 * 1024 ? quarter : 32 * 1024;
    }
    if (c->connection_buffer_bytes / 4 < c->max_header_bytes) { /* else libmicrohttpd answers first, its own way */
        fprintf(stderr, "gradd: --connection-buffer-bytes (%d) must be at least 4 x --max-header-bytes (%d)\n",
                c->connection_buffer_bytes, c->max_header_bytes);
        return -1;
    }
    return 0;
}

/* config.h -- gradd serve's configuration: every setting is a flag and an
 * environment variable of the same name (--max-body-bytes and
 * GRADD_MAX_BODY_BYTES); flags win over the environment. */
#ifndef GRADD_CONFIG_H
#define GRADD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "api.h"

typedef struct srv_config {
    int port;                 /* 0: any free port (printed at start) */
    char bind[64];            /* address to listen on */
    int workers;              /* compute threads */
    int blas_threads;         /* OpenBLAS threads per compute thread */
    int io_threads;           /* libmicrohttpd's I/O threads (poll; serve.c says why not epoll) */
    int queue;                /* requests that may wait for a worker */
    int deadline_ms;          /* compute time a request may take (504 after) */
    int idle_timeout_s;       /* a connection with no traffic is closed */
    int header_timeout_s;     /* a request's header section must be complete this long after the connection
                                 opened (or, kept alive, after its previous response plus idle_timeout_s) */
    int body_timeout_s;       /* a body must be complete body_timeout_s + bytes / min_body_rate after its headers */
    int min_body_rate;        /* bytes per second */
    int grace_s;              /* SIGTERM: how long requests in flight may finish */
    int max_connections;
    int connection_buffer_bytes; /* libmicrohttpd's memory per connection: the header section and the
                                 read buffer a body comes through (a 45 MB body took 30 ms in the
                                 32 KiB default, 13 ms in 128 KiB); touched only as far as used.
                                 Default 128 KiB, less when max_connections of them would pass an
                                 eighth of srv_memory_allowed() */
    int max_header_bytes;     /* request line and header lines together (431 past it; 414 for a URI
                                 alone past it), checked here: the connection buffer would allow more.
                                 Default a quarter of the buffer, at most 32 KiB */
    int cache_entries;        /* compiled graphs kept (0: no cache) */
    int64_t cache_bytes;      /* memory the kept graphs may hold, arenas included */
    int64_t graph_store_bytes; /* memory the graph store (POST /v1/graphs) may hold: bodies and summaries;
                                 default min(256 MiB, srv_memory_allowed() / 8); 0: keeps nothing */
    char graph_dir[512];      /* "" or a directory where stored graphs persist across restarts */
    int inline_max_bytes;     /* bodies up to this run on the I/O thread when their work is tiny (0: never) */
    int64_t max_inflight_bytes; /* memory request bodies may hold at once, each charged from its first
                                 callback to its completion with the JSON tree the API may build from
                                 it (503 past it); default half of srv_memory_allowed() */
    char cors_origins[1024];  /* comma-separated; "" allows none, "*" any */
    char api_keys[2048];      /* comma-separated; "" turns auth off */
    char log_format[8];       /* "text" or "json" */
    char openapi[512];        /* path of openapi.yaml */
    char web_root[512];       /* directory served at / ("" for none) */
    gd_limits limits;         /* the API's limits */
    int cpus;                 /* CPUs this process may use (cgroup quota aware) */
} srv_config;

/* Fill c from the environment and argv (argv[0] is the first option).
 * Returns 0, 1 when --help was printed, or -1 with a message on stderr. */
int srv_config_load(srv_config *c, int argc, char **argv);

/* CPUs the process may use: the cgroup v2/v1 CPU quota when set, else the
 * affinity mask, else the online count. */
int srv_cpus_allowed(void);

/* Bytes of memory the process may use: the cgroup v2 memory.max or v1
 * memory.limit_in_bytes when set and below physical memory, else physical
 * memory (sysconf). */
int64_t srv_memory_allowed(void);

#endif

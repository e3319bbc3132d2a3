/* graph_dir.c -- --graph-dir: the graph store (api/store.h) on disk, so a
 * restarted replica keeps its graphs. One file a graph, named
 * "<sha256 hex>.onnx" or "<sha256 hex>.json", holding the body as it was
 * uploaded. The store's hooks write a graph when it is kept (to a temp
 * file first, then renamed over its name, so a crash never leaves a
 * partial graph under a real name) and remove it when it is evicted.
 *
 * At start every file is checked before it is believed: opened relative
 * to the directory with O_NOFOLLOW (a symlink is refused, never followed),
 * a regular file within --max-body-bytes, its name the sha256 of its
 * bytes, and a graph the store takes (the same checks as an upload). What
 * fails is skipped with a line on stderr, and left for the operator;
 * leftover temp files are removed. Files load oldest first (by mtime), so
 * the most recently written graphs are the last the LRU would evict. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/sha256.h"
#include "server.h"
#include "store.h"

/* The file name of a graph: its ref's hex digits and its format. */
static void file_name(char *out, size_t cap, const char *ref, gd_graph_format f) {
    snprintf(out, cap, "%.64s.%s", ref + 7, f == GD_GRAPH_ONNX ? "onnx" : "json");
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The store's added hook: write g under its name, through a temp file. */
static void on_added(void *ctx, const gd_stored *g) {
    server *s = ctx;
    if (s->graph_dir_fd < 0 || atomic_load(&s->graph_dir_loading)) return;
    static atomic_uint seq;
    char name[96], tmp[128];
    file_name(name, sizeof name, g->ref, g->format);
    snprintf(tmp, sizeof tmp, ".tmp-%.64s-%d-%u", g->ref + 7, (int)getpid(), atomic_fetch_add(&seq, 1));
    int fd = openat(s->graph_dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "gradd: --graph-dir: cannot write %s: %s\n", tmp, strerror(errno));
        return;
    }
    int ok = write_all(fd, g->body, g->len) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (ok && renameat(s->graph_dir_fd, tmp, s->graph_dir_fd, name) == 0) return;
    fprintf(stderr, "gradd: --graph-dir: cannot write %s: %s\n", name, strerror(errno));
    unlinkat(s->graph_dir_fd, tmp, 0);
}

/* The store's evicted hook: the graph's file goes too. */
static void on_evicted(void *ctx, const char *ref) {
    server *s = ctx;
    if (s->graph_dir_fd < 0) return;
    char name[96];
    for (int f = 0; f < 2; f++) {
        file_name(name, sizeof name, ref, (gd_graph_format)f);
        if (unlinkat(s->graph_dir_fd, name, 0) < 0 && errno != ENOENT)
            fprintf(stderr, "gradd: --graph-dir: cannot remove %s: %s\n", name, strerror(errno));
    }
}

/* name is "<64 hex>.onnx" or "<64 hex>.json": its format, else -1. */
static int format_of_name(const char *name) {
    size_t n = strlen(name);
    if (n != 69) return -1;
    for (int i = 0; i < 64; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f'))) return -1;
    if (!strcmp(name + 64, ".onnx")) return GD_GRAPH_ONNX;
    if (!strcmp(name + 64, ".json")) return GD_GRAPH_JSON;
    return -1;
}

typedef struct found {
    char name[72];
    struct timespec mtime;
} found;

static int by_mtime(const void *a, const void *b) {
    const struct timespec *x = &((const found *)a)->mtime, *y = &((const found *)b)->mtime;
    if (x->tv_sec != y->tv_sec) return x->tv_sec < y->tv_sec ? -1 : 1;
    return x->tv_nsec < y->tv_nsec ? -1 : x->tv_nsec > y->tv_nsec;
}

/* Read and check one file; into the store when it is a graph. 1 loaded, 0 skipped. */
static int load_one(server *s, const char *name) {
    int format = format_of_name(name);
    int fd = openat(s->graph_dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    const char *why = NULL;
    char *body = NULL;
    if (fd < 0) why = errno == ELOOP ? "a symlink (never followed)" : strerror(errno);
    else if (fstat(fd, &st) < 0) why = strerror(errno);
    else if (!S_ISREG(st.st_mode)) why = "not a regular file";
    else if ((uint64_t)st.st_size > (uint64_t)s->cfg.limits.max_body_bytes) why = "over --max-body-bytes";
    else if (!(body = malloc((size_t)st.st_size + 1))) why = "out of memory";
    size_t got = 0;
    while (!why && got < (size_t)st.st_size) {
        ssize_t n = read(fd, body + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) why = n < 0 ? strerror(errno) : "shorter than its size";
        else got += (size_t)n;
    }
    if (fd >= 0) close(fd);
    char hex[65];
    if (!why) {
        cd_sha256_hex(body, got, hex);
        if (strncmp(hex, name, 64)) why = "its bytes are not the sha256 its name says";
    }
    gd_err e;
    memset(&e, 0, sizeof e);
    gd_stored *g = NULL;
    int rc = -1;
    if (!why) {
        rc = gd_graph_ingest(s->store, (gd_graph_format)format, body, got, &s->cfg.limits, &g, &e);
        if (rc < 0) why = e.message;
    }
    if (why) fprintf(stderr, "gradd: --graph-dir: skipped %s: %s\n", name, why);
    gd_stored_release(rc == 2 ? NULL : s->store, g);
    free(body);
    return !why;
}

int srv_gdir_open(server *s) {
    s->graph_dir_fd = -1;
    gd_store_hooks hooks = {.ctx = s, .added = on_added, .evicted = on_evicted};
    s->store = gd_store_new(s->cfg.graph_store_bytes, &hooks);
    if (!s->store) return -1;
    if (!s->cfg.graph_dir[0]) return 0;
    if (mkdir(s->cfg.graph_dir, 0700) < 0 && errno != EEXIST) {
        fprintf(stderr, "gradd: --graph-dir %s: %s\n", s->cfg.graph_dir, strerror(errno));
        return -1;
    }
    s->graph_dir_fd = open(s->cfg.graph_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int dfd = s->graph_dir_fd >= 0 ? dup(s->graph_dir_fd) : -1;
    DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
    if (!d) {
        fprintf(stderr, "gradd: --graph-dir %s: %s\n", s->cfg.graph_dir, strerror(errno));
        if (dfd >= 0) close(dfd);
        return -1;
    }
    found *list = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strncmp(de->d_name, ".tmp-", 5)) { /* a write that never finished */
            unlinkat(s->graph_dir_fd, de->d_name, 0);
            continue;
        }
        if (de->d_name[0] == '.') continue;
        struct stat st;
        if (format_of_name(de->d_name) < 0 || fstatat(s->graph_dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            fprintf(stderr, "gradd: --graph-dir: skipped %s: not a stored graph's name\n", de->d_name);
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            found *nl = realloc(list, cap * sizeof *nl);
            if (!nl) break;
            list = nl;
        }
        memcpy(list[n].name, de->d_name, 70); /* 69 characters and the NUL: format_of_name checked them */
        list[n++].mtime = st.st_mtim;
    }
    closedir(d);
    if (n) qsort(list, n, sizeof *list, by_mtime);
    atomic_store(&s->graph_dir_loading, 1);
    int loaded = 0;
    for (size_t i = 0; i < n; i++) loaded += load_one(s, list[i].name);
    atomic_store(&s->graph_dir_loading, 0);
    free(list);
    int entries;
    int64_t bytes;
    gd_store_size(s->store, &entries, &bytes, NULL);
    fprintf(stderr, "gradd: --graph-dir %s: loaded %d graphs (%d kept, %lld bytes)\n", s->cfg.graph_dir, loaded,
            entries, (long long)bytes);
    return 0;
}

void srv_gdir_close(server *s) {
    gd_store_free(s->store);
    s->store = NULL;
    if (s->graph_dir_fd >= 0) close(s->graph_dir_fd);
    s->graph_dir_fd = -1;
}

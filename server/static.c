/* static.c -- GET of the playground's files under --web-root: no "..",
 * no hidden files, no symbolic links below the root; revalidated with an
 * ETag (304), under the playground's Content-Security-Policy. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static const char *mime_of(const char *path) {
    const char *dot = strrchr(path, '.');
    static const char *const map[][2] = {{".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"},
                                         {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
                                         {".svg", "image/svg+xml"},             {".png", "image/png"},
                                         {".ico", "image/x-icon"},              {".txt", "text/plain; charset=utf-8"}};
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(dot, map[i][0])) return map[i][1];
    return "application/octet-stream";
}

/* The playground's policy: its own scripts, styles and images only, API
 * calls to the same origin, never framed. style-src-attr allows the one
 * style attribute clients/web sets (ui.js, the clipboard fallback). */
#define WEB_CSP                                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self'; " \
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "            \
    "frame-ancestors 'none'"

/* Open rel ("/a/b.js") under the directory root one component at a time,
 * each with O_NOFOLLOW: a symbolic link anywhere below the root is refused,
 * so nothing outside it can be reached through one (the root itself may be
 * a link: it is configuration). O_NONBLOCK: a FIFO never blocks the I/O
 * thread. The open file, or -1. */
static int open_under(const char *root, const char *rel) {
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    const char *p = rel;
    while (dir >= 0) {
        while (*p == '/') p++;
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        char part[256];
        if (n == 0 || n >= sizeof part) break;
        memcpy(part, p, n);
        part[n] = '\0';
        int fd = openat(dir, part, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | (slash ? O_DIRECTORY : 0));
        close(dir);
        if (fd < 0 || !slash) return fd;
        dir = fd;
        p = slash + 1;
    }
    if (dir >= 0) close(dir);
    return -1;
}

/* GET of a file under web_root; no "..", no hidden files, no symbolic
 * links. The playground's files are not versioned in their names
 * (index.html loads js/main.js), so they are sent with Cache-Control:
 * no-cache and a validator: the browser keeps its copy and asks each time,
 * and an unchanged file costs a 304 with no body (If-None-Match). */
enum MHD_Result srv_static_serve(req *r, const char *url) {
    const char *rel = !strcmp(url, "/") ? "/index.html" : url;
    if (!r->s->cfg.web_root[0] || strstr(rel, "..") || strstr(rel, "/.") || strlen(rel) > 200)
        return srv_http_reply_error(r, GD_E_NOT_FOUND, "there is nothing at %s", url);
    int fd = open_under(r->s->cfg.web_root, rel);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        return srv_http_reply_error(r, GD_E_NOT_FOUND, "there is nothing at %s", url);
    }
    char etag[64], modified[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec);
    struct tm tm;
    gmtime_r(&st.st_mtim.tv_sec, &tm);
    strftime(modified, sizeof modified, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    const char *inm = r->hdr.if_none_match;
    int fresh = inm && (strstr(inm, etag) || !strcmp(inm, "*"));
    struct MHD_Response *resp = fresh ? MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT)
                                      : MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (fresh || !resp) close(fd);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", mime_of(rel));
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "ETag", etag);
    MHD_add_response_header(resp, "Last-Modified", modified);
    MHD_add_response_header(resp, "Content-Security-Policy", WEB_CSP);
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    srv_http_common_headers(r, resp);
    r->status = fresh ? 304 : 200;
    r->out_bytes = fresh ? 0 : (size_t)st.st_size;
    enum MHD_Result ok = MHD_queue_response(r->c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

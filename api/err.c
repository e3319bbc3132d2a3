/* err.c -- filling gd_err, and mapping libgrad's statuses to HTTP. */
#include "err.h"

#include "out.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int gd_fail(gd_err *e, int status, const char *code, const char *path, const char *fmt, ...) {
    if (!e || e->status) return -1;
    e->status = status;
    e->code = code;
    snprintf(e->path, sizeof e->path, "%s", path ? path : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int gd_status_of(gr_status s) {
    switch (s) {
    case GR_OK: return 200;
    case GR_E_LIMIT:
    case GR_E_OVERFLOW:
    case GR_E_NOMEM: return 413;
    case GR_E_CANCELLED: return 504; /* the deadline passed */
    default: return 422;
    }
}

const char *gd_code_of(gr_status s) { return gr_status_name(s); }

void gd_path_push(char *path, size_t cap, const char *token) {
    size_t n = strlen(path);
    if (n + 1 >= cap) return;
    path[n++] = '/';
    for (const char *t = token; *t && n + 2 < cap; t++) {
        if (*t == '~') { path[n++] = '~'; path[n++] = '0'; }
        else if (*t == '/') { path[n++] = '~'; path[n++] = '1'; }
        else path[n++] = *t;
    }
    path[n] = '\0';
}

void gd_path_index(char *path, size_t cap, long i) {
    char tok[24];
    gd_i64_text(tok, i);
    gd_path_push(path, cap, tok);
}

/* error.c -- see error.h. */
#include "error.h"

#include <string.h>

#include "buf.h"

const char *cd_err_kind_name(cd_err_kind kind) {
    switch (kind) {
    case CD_OK: return "ok";
    case CD_E_SYNTAX: return "syntax";
    case CD_E_DUPLICATE_KEY: return "duplicate_key";
    case CD_E_UNKNOWN_ROOT_KEY: return "unknown_root_key";
    case CD_E_KEY_LENGTH: return "key_length";
    case CD_E_DEPTH: return "depth";
    case CD_E_BUDGET: return "budget";
    case CD_E_NOMEM: return "nomem";
    case CD_E_CANCELLED: return "cancelled";
    }
    return "unknown";
}

void cd_locate(const char *text, size_t len, size_t offset, long *line, long *column) {
    long l = 1, c = 1;
    if (offset > len) offset = len;
    for (const char *q = text, *end = text + offset; q < end; q++) {
        if (*q == '\n') { l++; c = 1; }
        else c++;
    }
    *line = l;
    *column = c;
}

void cd_path_push(char *path, size_t cap, const char *token) {
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

void cd_path_index(char *path, size_t cap, long i) {
    char tok[24];
    cd_i64_text(tok, i);
    cd_path_push(path, cap, tok);
}

/* buf.c -- see buf.h. */
#include "buf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"
#include "utf8.h"

int cd_buf_reserve(cd_buf *b, size_t n) {
    if (b->oom) return 0;
    if (b->len + n + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) {
        b->oom = 1;
        return 0;
    }
    b->p = np;
    b->cap = cap;
    return 1;
}

void cd_buf_put(cd_buf *b, const char *s, size_t n) {
    if (!cd_buf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

void cd_buf_puts(cd_buf *b, const char *s) { cd_buf_put(b, s, strlen(s)); }

void cd_buf_putc(cd_buf *b, char c) {
    if (!cd_buf_reserve(b, 1)) return;
    b->p[b->len++] = c;
}

/* Writes s as a JSON string. Bytes that are not valid UTF-8 (a message
 * that cut a name mid-character, say) become U+FFFD, so the response is
 * always valid JSON. */
void cd_buf_str(cd_buf *b, const char *s) {
    size_t n = strlen(s);
    if (!cd_buf_reserve(b, n * 6 + 2)) return;
    char *o = b->p + b->len;
    *o++ = '"';
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        unsigned c = *q;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            static const char hex[] = "0123456789abcdef";
            if (c == '\n') { *o++ = '\\'; *o++ = 'n'; }
            else if (c == '\t') { *o++ = '\\'; *o++ = 't'; }
            else if (c == '\r') { *o++ = '\\'; *o++ = 'r'; }
            else {
                memcpy(o, "\\u00", 4);
                o[4] = hex[c >> 4];
                o[5] = hex[c & 15];
                o += 6;
            }
        } else if (c < 0x80) {
            *o++ = (char)c;
        } else {
            int k = cd_utf8_len(q, (const unsigned char *)s + n);
            if (k) {
                memcpy(o, q, (size_t)k);
                o += k;
                q += k - 1;
            } else {
                memcpy(o, "\\ufffd", 6);
                o += 6;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

void cd_buf_key(cd_buf *b, const char *key, int first) {
    if (!first) cd_buf_putc(b, ',');
    cd_buf_str(b, key);
    cd_buf_putc(b, ':');
}

int cd_i64_text(char *t, int64_t v) {
    char rev[20];
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    int n = 0, k = 0;
    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) t[k++] = '-';
    while (n) t[k++] = rev[--n];
    t[k] = 0;
    return k;
}

void cd_buf_i64(cd_buf *b, int64_t v) {
    char t[24];
    cd_buf_put(b, t, (size_t)cd_i64_text(t, v));
}

/* Non-finite numbers as ProtoJSON strings; 1 when v was one. */
static int put_nonfinite(cd_buf *b, double v) {
    if (isnan(v)) cd_buf_put(b, "\"NaN\"", 5);
    else if (isinf(v)) cd_buf_puts(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    else return 0;
    return 1;
}

void cd_buf_f64(cd_buf *b, double v) {
    if (put_nonfinite(b, v) || !cd_buf_reserve(b, CD_NUM_MAX)) return;
    b->len += (size_t)cd_num_print_f64(v, b->p + b->len);
}

void cd_buf_f32(cd_buf *b, float v) {
    if (put_nonfinite(b, v) || !cd_buf_reserve(b, CD_NUM_MAX)) return;
    b->len += (size_t)cd_num_print_f32(v, b->p + b->len);
}

char *cd_buf_take(cd_buf *b, size_t *len) {
    if (!cd_buf_reserve(b, 0)) {
        cd_buf_free(b);
        return NULL;
    }
    b->p[b->len] = '\0';
    char *p = b->p;
    *len = b->len;
    memset(b, 0, sizeof *b);
    return p;
}

void cd_buf_free(cd_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

char *cd_join(char *out, size_t cap, const char *a, const char *b) {
    size_t n = 0;
    for (; *a && n + 1 < cap; a++) out[n++] = *a;
    for (; *b && n + 1 < cap; b++) out[n++] = *b;
    out[n] = 0;
    return out;
}

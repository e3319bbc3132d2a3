/* out.h -- the response writer: JSON text into a growing buffer, numbers
 * through the shortest round-trip printer, non-finite numbers as the
 * strings "NaN", "Infinity", "-Infinity" (ProtoJSON's convention). */
#ifndef GRADD_OUT_H
#define GRADD_OUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct gd_buf {
    char *p;       /* (cap) text, NUL-terminated when len < cap */
    size_t len, cap;
    int oom;       /* set once an allocation failed; later writes do nothing */
} gd_buf;

/* Length of the valid UTF-8 sequence at q (1 to 4 bytes, no overlongs,
 * surrogates or code points past U+10FFFF), or 0 when it is not one. */
int gd_utf8_len(const unsigned char *q, const unsigned char *end);

/* Make room for n more bytes; 0 when out of memory (b->oom set). */
int gd_buf_reserve(gd_buf *b, size_t n);
void gd_buf_put(gd_buf *b, const char *s, size_t n);
void gd_buf_puts(gd_buf *b, const char *s);
void gd_buf_putc(gd_buf *b, char c);
/* s as a JSON string (quoted, escaped). */
void gd_buf_str(gd_buf *b, const char *s);
/* "key": with the key escaped, preceded by ',' unless first. */
void gd_buf_key(gd_buf *b, const char *key, int first);
void gd_buf_i64(gd_buf *b, int64_t v);
/* v in decimal at t (at most 20 characters and a NUL); returns the length. */
int gd_i64_text(char *t, int64_t v);
void gd_buf_f64(gd_buf *b, double v);
void gd_buf_f32(gd_buf *b, float v);
/* Take the text (NUL-terminated); the buffer is left empty. NULL on oom. */
char *gd_buf_take(gd_buf *b, size_t *len);
void gd_buf_free(gd_buf *b);

/* out = a then b, cut to cap - 1 bytes (cap > 0), NUL-terminated; returns
 * out. For request paths: snprintf would do, but Debian's OpenBLAS loads
 * libquadmath, whose printf hooks send every printf down glibc's slow
 * positional path (about 1 us a call). */
char *gd_join(char *out, size_t cap, const char *a, const char *b);
#endif

/* buf.h -- the JSON writer: text into a growing buffer, numbers through
 * the shortest round-trip printer (num.h), non-finite numbers as the
 * strings "NaN", "Infinity", "-Infinity" (ProtoJSON's convention). */
#ifndef CD_BUF_H
#define CD_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cd_buf {
    char *p;       /* (cap) text, NUL-terminated when len < cap */
    size_t len, cap;
    int oom;       /* set once an allocation failed; later writes do nothing */
} cd_buf;

/* Make room for n more bytes; 0 when out of memory (b->oom set). */
int cd_buf_reserve(cd_buf *b, size_t n);
void cd_buf_put(cd_buf *b, const char *s, size_t n);
void cd_buf_puts(cd_buf *b, const char *s);
void cd_buf_putc(cd_buf *b, char c);
/* s as a JSON string (quoted, escaped). */
void cd_buf_str(cd_buf *b, const char *s);
/* "key": with the key escaped, preceded by ',' unless first. */
void cd_buf_key(cd_buf *b, const char *key, int first);
void cd_buf_i64(cd_buf *b, int64_t v);
/* v in decimal at t (at most 20 characters and a NUL); returns the length. */
int cd_i64_text(char *t, int64_t v);
void cd_buf_f64(cd_buf *b, double v);
void cd_buf_f32(cd_buf *b, float v);
/* Take the text (NUL-terminated); the buffer is left empty. NULL on oom. */
char *cd_buf_take(cd_buf *b, size_t *len);
void cd_buf_free(cd_buf *b);

/* out = a then b, cut to cap - 1 bytes (cap > 0), NUL-terminated; returns
 * out. For request paths: snprintf would do, but Debian's OpenBLAS loads
 * libquadmath, whose printf hooks send every printf down glibc's slow
 * positional path (about 1 us a call). */
char *cd_join(char *out, size_t cap, const char *a, const char *b);
#endif

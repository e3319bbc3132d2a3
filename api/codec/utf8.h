/* utf8.h -- UTF-8 as RFC 3629 has it: the reader's check of string bytes
 * and its encoding of \u escapes, the writer's check of what it quotes. */
#ifndef CD_UTF8_H
#define CD_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at q (1 to 4 bytes, no overlongs,
 * surrogates or code points past U+10FFFF), or 0 when it is not one.
 * Reads no byte at or past end (q < end). */
int cd_utf8_len(const unsigned char *q, const unsigned char *end);

/* Write code point cp (at most U+10FFFF) as 1 to 4 bytes at o; returns
 * how many. */
size_t cd_utf8_put(char *o, unsigned cp);

#endif

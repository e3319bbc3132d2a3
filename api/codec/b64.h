/* b64.h -- base64 for tensors in the JSON API (RFC 4648, standard
 * alphabet "A-Za-z0-9+/", '=' padding, strict). Tensors of megabytes are
 * sent this way, so both directions have an AVX2 path chosen once at
 * run time (when the CPU has AVX2) and a table-driven scalar path for
 * other CPUs and for the last few bytes. Both paths give identical
 * results for every input. Thread-safe: the tables are built once, at
 * first use, under pthread_once. */
#ifndef CD_B64_H
#define CD_B64_H

#include <stddef.h>

/* Characters cd_b64_encode writes for n input bytes: 4 * ceil(n / 3).
 * Never fails; no terminator is counted. */
size_t cd_b64_encoded_len(size_t n);

/* Encode the n bytes at in as padded standard base64 into out, which must
 * have room for cd_b64_encoded_len(n) characters (exactly that many are
 * written; no terminator). Returns cd_b64_encoded_len(n). in may be NULL
 * when n is 0. */
size_t cd_b64_encode(const void *in, size_t n, char *out);

/* Bytes a valid encoding of the len characters at in decodes to, for
 * sizing a buffer before cd_b64_decode: len / 4 * 3 less one per trailing
 * '=' (at most two). Reads only in[len - 2] and in[len - 1], and only
 * when len is a nonzero multiple of 4; for any other len it returns
 * len / 4 * 3 without reading (such text is not valid and cd_b64_decode
 * rejects it). It does not validate anything else. */
size_t cd_b64_decoded_len(const char *in, size_t len);

/* Decode the len characters at in (no terminator needed; no whitespace,
 * no line breaks, no URL-safe alphabet). Valid text is a whole number of
 * four-character quanta, each of four alphabet characters except the last,
 * which may end in "==" (one byte) or "=" (two bytes); the bits under the
 * padding must be zero, so each byte string has exactly one encoding.
 * Writes at most cap bytes to out and sets *outlen.
 * Returns 0 with *outlen = the decoded size on success. Returns -1 with
 * *outlen = 0 when len % 4 != 0, any character is outside the alphabet
 * (anywhere, including NUL and bytes >= 0x80), the padding is misplaced or
 * has nonzero bits under it, or the decoded size exceeds cap; out's
 * contents are then unspecified (up to cap bytes may have been written).
 * Reads no byte outside in[0 .. len). */
int cd_b64_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen);

/* For tests and benchmarks only: force != 0 makes later calls in every
 * thread use the scalar code even on an AVX2 CPU; 0 restores the normal
 * choice. Not for use while other threads are encoding or decoding and
 * expect a particular path (the results are the same either way). */
void cd_b64_force_scalar(int force);

/* For tests and benchmarks only: 1 when calls now take the AVX2 path
 * (the CPU has AVX2, the build targets x86 and the scalar path is not
 * forced), else 0. */
int cd_b64_uses_avx2(void);

#endif

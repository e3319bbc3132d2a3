/* num.h -- the number codec of the JSON API: strict JSON number parsing,
 * correctly rounded, and shortest round-trip printing for float64 and
 * float32 (base64 is in b64.h). These are the hot path of big tensors,
 * so each is a dedicated fast implementation (jansson's are 22 MB/s and
 * print 0.1 as 0.10000000000000001). */
#ifndef CD_NUM_H
#define CD_NUM_H

#include <stddef.h>
#include <stdint.h>

/* Result of cd_num_parse. */
typedef enum cd_num_status {
    CD_NUM_OK = 0,
    CD_NUM_SYNTAX,   /* not a JSON number (leading zeros, "1.", ".5", "+1", "-", ...) */
    CD_NUM_RANGE     /* finite in the text but beyond DBL_MAX once rounded */
} cd_num_status;

/* Parse one JSON number starting at s, reading no further than end. On
 * CD_NUM_OK, *out is the correctly rounded double (round half to even, as
 * strtod) and *next points just past the number; values below the
 * smallest subnormal round to (signed) zero. The grammar is RFC 8259's:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  Any number of digits is
 * accepted and still rounded correctly. */
cd_num_status cd_num_parse(const char *s, const char *end, double *out, const char **next);

/* Longest text cd_num_print_* can write, without a terminator. */
#define CD_NUM_MAX 32

/* Write the shortest decimal text that reads back (strtod / strtof) as
 * exactly v, into buf (no terminator); return its length. buf must have
 * CD_NUM_MAX bytes: the printers may use them as scratch past the length. v must be
 * finite. Among shortest candidates the one closest to v is chosen. The
 * layout is JavaScript's Number#toString, which JSON.stringify uses:
 * plain decimal when 1e-7 <= |v| < 1e21 (6, 0.1, -2.5, 123000, 0.000001),
 * exponent form otherwise (1e+21, 1.5e-7, -2e-308); 0 prints as 0 and
 * -0 as -0.0 (not JavaScript's "0": the sign is part of the value, and
 * Python's json reads "-0" as the integer 0, without it). */
int cd_num_print_f64(double v, char *buf);
/* The same for a float32: the fewest digits whose strtof is v. */
int cd_num_print_f32(float v, char *buf);

/* Bytes cd_num_print_*_list may write for n numbers (scratch included). */
#define CD_NUM_LIST_BYTES(n) ((size_t)(n) * (CD_NUM_MAX + 1))

/* Write v[0..n) as the inside of a JSON array, "a,b,c" (no brackets, no
 * terminator), into out; return its length (0 when n is 0). Each number
 * is exactly what cd_num_print_f32 / _f64 writes; a non-finite one is the
 * ProtoJSON string "\"NaN\"", "\"Infinity\"" or "\"-Infinity\"", quotes
 * included. out must have CD_NUM_LIST_BYTES(n) bytes: bytes past the
 * returned length may be overwritten. The float32 one prints four numbers
 * at a time, several times faster than a loop over cd_num_print_f32. */
size_t cd_num_print_f32_list(const float *v, size_t n, char *out);
size_t cd_num_print_f64_list(const double *v, size_t n, char *out);

#endif

/* num_short.h -- the parser's fast path for the common short number, as
 * static inline functions, so that the hot loop over a tensor's numbers
 * (api/codec/json.c) runs it without a call; cd_num_parse (num_parse.c) starts
 * with it too. Private to the number codec and its callers in api/codec/. */
#ifndef CD_NUM_SHORT_H
#define CD_NUM_SHORT_H

#include <float.h>
#include <stdint.h>
#include <string.h>

#include "num_impl.h"

static const double cd_num_exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                       1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static inline uint64_t load64(const char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v; /* the byte at p lowest */
}

/* High nibble set in each byte of v that is not an ASCII digit, at least
 * up to the first such byte (a carry out of a byte >= 0xFA may mark the
 * byte after it too; only the first non-digit is used). */
static inline uint64_t nondigits(uint64_t v) {
    uint64_t hi = 0xF0F0F0F0F0F0F0F0ull;
    return ((v & hi) ^ ASCII_ZEROS) | (((v + 0x0606060606060606ull) & hi) ^ ASCII_ZEROS);
}

/* The value of the n digits (1..8) in the low bytes of v, first digit
 * lowest: left-pad to eight with zero digits, then combine neighbours
 * into 2-, 4- and 8-digit lanes. */
static inline uint64_t value8(uint64_t v, int n) {
    uint64_t d = (v ^ ASCII_ZEROS) << (8 * (8 - n)); /* digits' values, right-aligned */
    d = (d * 10 + (d >> 8)) & 0x00FF00FF00FF00FFull;
    d = (d * 100 + (d >> 16)) & 0x0000FFFF0000FFFFull;
    return (d * 10000 + (d >> 32)) & 0xFFFFFFFFull;
}

/* d (not negative) with the sign bit set when neg: -d without a branch
 * (a sign that varies at random would be mispredicted half the time). */
static inline double cd_num_signed(double d, int neg) {
    uint64_t b;
    memcpy(&b, &d, sizeof b);
    b |= (uint64_t)(neg != 0) << 63;
    memcpy(&d, &b, sizeof d);
    return d;
}

/* The common short number: -?D{1,7}(\.D{1,7})? without an exponent,
 * with 16 bytes readable: two word loads, no loops. 1 when it answered
 * (exactly: w < 10^14 and one division by an exact power of ten, Clinger's
 * case), 0 to leave it to the general path (which also reports errors).
 * s < end. */
static inline int cd_num_parse_short(const char *s, const char *end, double *out, const char **next) {
#if FLT_EVAL_METHOD != 0 /* the division must round once, in double */
    (void)s, (void)end, (void)out, (void)next;
    return 0;
#endif
    int neg = *s == '-';
    const char *p = s + neg;
    if (end - p < 16) return 0;
    uint64_t v = load64(p), m = nondigits(v);
    if (m == 0) return 0; /* 8 or more integer digits */
    int ni = __builtin_ctzll(m) >> 3; /* integer digits */
    if (ni == 0 || (ni > 1 && *p == '0')) return 0;
    const char *f = p + ni;
    if (*f == '.') {
        uint64_t fv = load64(++f), fm = nondigits(fv);
        if (fm == 0) return 0; /* 8 or more fraction digits */
        int nf = __builtin_ctzll(fm) >> 3;
        if (nf == 0 || (f[nf] | 0x20) == 'e') return 0;
        uint64_t w = value8(v, ni) * cd_num_pow10[nf] + value8(fv, nf);
        double d = (double)w / cd_num_exact_pow10[nf];
        *out = cd_num_signed(d, neg);
        *next = f + nf;
        return 1;
    }
    if ((*f | 0x20) == 'e') return 0;
    double d = (double)value8(v, ni);
    *out = cd_num_signed(d, neg);
    *next = f;
    return 1;
}

/* The number that fills exactly [s, e) (e > s), when it is
 * -?D+(\.D+)? in the grammar's terms (no leading zero) with at most 8
 * characters after the sign: 1 with its value as a quotient of two
 * exactly represented doubles, *num (the digits, signed) / *den (a power
 * of ten), so that the one division *num / *den, rounded once, is the
 * double cd_num_parse gives. The division is left to the caller, which
 * can do many at once. 0 for anything else, which is left to
 * cd_num_parse_short / cd_num_parse (also for the errors). The length is
 * known, so there is no search for the number's end: two loads at s and
 * s + 1, mask arithmetic. Reads s[0..9): the caller checks that much is
 * there. */
static inline int cd_num_span8_parts(const char *s, const char *e, double *num, double *den) {
#if FLT_EVAL_METHOD != 0 /* the division must round once, in double */
    (void)s, (void)e, (void)num, (void)den;
    return 0;
#endif
    uint64_t v0 = load64(s), v1 = load64(s + 1);
    int neg = (v0 & 0xFF) == '-';
    uint64_t v = v0 ^ ((v0 ^ v1) & (0 - (uint64_t)neg)); /* the text after the sign */
    long m = (long)(e - s) - neg;
    if (m < 1 || m > 8) return 0;
    uint64_t nd = nondigits(v) & (~0ull >> (64 - 8 * m)); /* non-digits in the number */
    int d = nd ? __builtin_ctzll(nd) >> 3 : (int)m;        /* the first, or m */
    int d7 = d & 7;
    int dot = ((v >> (8 * d7)) & 0xFF) == '.';
    int more = ((nd >> (8 * d7)) >> 8) != 0; /* another non-digit after it */
    int lead0 = (v & 0xFF) == '0';
    int ok = nd == 0 ? (m == 1 || !lead0) /* an integer */
                     : dot && !more && d >= 1 && d <= m - 2 && (d == 1 || !lead0);
    if (!ok) return 0;
    uint64_t low = ~0ull >> (64 - 8 * d); /* d in [1, 8]: the integer digits' bytes */
    uint64_t digits = (v & low) | ((v >> 8) & ~low); /* the dot taken out */
    int ndig = (int)m - (nd != 0);
    *num = cd_num_signed((double)value8(digits, ndig), neg); /* < 10^8: exact */
    *den = cd_num_exact_pow10[ndig - d];
    return 1;
}

#endif

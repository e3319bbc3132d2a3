/* num.c -- the number codec of the JSON API (see num.h): the printers
 * here, the parser in num_parse.c, the tables both use and the printers'
 * exact slow path in num_tables.c.
 *
 * Parsing: a short number (up to 7 integer and 7 fraction digits, no
 * exponent, 16 bytes readable) is read with two word loads and answered by
 * tier 1 directly. Otherwise the JSON grammar is checked first (runs of digits found eight
 * bytes at a time), then up to 19 significant digits are gathered into a
 * uint64 w (eight at a time too), so the number is w * 10^q (plus dropped
 * digits). Three tiers, each exact where it answers:
 *   1. Clinger: w <= 2^53 and |q| <= 22, one IEEE multiply or divide of
 *      two exact doubles, so one rounding. Most tensor values end here.
 *   2. Eisel-Lemire: w times a 128-bit truncated power of five, with an
 *      error bound; it answers unless the product lies within that bound
 *      of a rounding boundary, or dropped digits could change the result.
 *   3. strtod on a rebuilt, locale-free copy of the token (digits and an
 *      exponent only, at most 780 significant digits plus a sticky digit).
 *
 * Printing: Schubfach (R. Giulietti's method), written from the idea:
 * scale v and the two ends of its rounding interval by 10^-k so the
 * interval is between 1 and 10 units wide; then the shortest decimal in
 * it is the one multiple of ten inside (if any), else the nearer of
 * floor(v) and floor(v)+1. The scaled values come from a 128-bit power of
 * five rounded up; a result whose fraction lies inside the error bound is
 * settled exactly (divisibility, or a bignum division). The digits are
 * made eight at a time in a register and stored whole, so the printers
 * may write scratch bytes past the returned length, never past
 * buf + CD_NUM_MAX: give them CD_NUM_MAX bytes. float32 has its own
 * fast path with a 64-bit power of ten (see "float32: the fast path").
 *
 * The power-of-five table is computed at first use (pthread_once) with
 * exact bignum arithmetic (num_tables.c): for 5^j, j in [-342, 324], a
 * 128-bit T and e2 with 5^j = (T + d) * 2^e2, 2^127 <= T < 2^128,
 * 0 <= d < 1. */
#include "num.h"
#include "num_impl.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- shortest digits (Schubfach) -------------------------------------- */

/* x = cp * 2^q * 10^-k, computed as cp * g / 2^sh with g the power of
 * five 5^-k rounded up: 128 bits (ghi:glo) for doubles, the top 64 (ghi)
 * for floats (narrow). sh is 124..127 (doubles) or 60..63 past 64
 * (floats); cp is shifted left by up = 128 - sh first, so the integer
 * part is the product's top word and the fraction the words below. */

/* The fraction of cp * g / 2^sh is within g's overshoot bound: x may be
 * an integer, or just below ip. Settle it exactly. */
static uint64_t scaled_edge(uint64_t cp, int q, int k, uint64_t ip) {
    int a = q - k, b = -k; /* x = cp * 2^a * 5^b */
    int integer = (a >= 0 || __builtin_ctzll(cp) >= -a) && (b >= 0 || (b >= -27 && cp % cd_num_p5u64[-b] == 0));
    if (integer) return ip; /* the overshoot is below 1 */
    return cd_num_scaled_exact(cp, q, k);
}

/* floor(x) with its lowest bit set when x is not an integer (so compares
 * with even numbers come out as with x itself). */
static inline uint64_t scaled(uint64_t ghi, uint64_t glo, int up, int exact, int q, int k, uint64_t cp, int narrow) {
    uint64_t c = cp << up, ip;
    int frac_big, frac_zero; /* the fraction exceeds the overshoot bound c; is 0 */
    if (narrow) {
        u128 p = (u128)c * ghi;
        ip = (uint64_t)(p >> 64);
        frac_big = (uint64_t)p > c;
        frac_zero = (uint64_t)p == 0;
    } else {
        u128 lo = (u128)c * glo;
        u128 hi = (u128)c * ghi + (uint64_t)(lo >> 64);
        ip = (uint64_t)(hi >> 64);
        frac_big = ((uint64_t)hi != 0) | ((uint64_t)lo > c);
        frac_zero = ((uint64_t)hi | (uint64_t)lo) == 0;
    }
    if (exact) return ip | (uint64_t)!frac_zero;
    /* g overshoots by at most 1, so the product by at most c: a fraction
     * above c means floor(x) = ip and x is not an integer */
    if (__builtin_expect(frac_big, 1)) return ip | 1;
    return scaled_edge(cp, q, k, ip);
}

/* floor(log10(3/4 * 2^q)) for |q| <= 1200 (checked exhaustively against
 * exact arithmetic; floor(q * log10(2)) is flog10_pow2, num_impl.h). */
static inline int flog10_3q4_pow2(int q) {
    return (int)((((int64_t)q * 315653 - 131237) + ((int64_t)4000 << 20)) >> 20) - 4000;
}

/* The shortest decimal d * 10^*e10 that rounds (to nearest, ties even) to
 * v = c * 2^q, nearest to v among the shortest. irregular: the gap below v
 * is half the gap above (c is a power of two above the smallest binade).
 * narrow: c < 2^24 (float32), so 64 bits of g are enough. */
static inline uint64_t shortest(uint64_t c, int q, int irregular, int narrow, int *e10) {
    int k = irregular ? flog10_3q4_pow2(q) : flog10_pow2(q);
    const pow5 *t = &cd_num_p5tab[-k - P5_MIN];
    int up = 128 - (k - q - t->e2), exact = t->exact;
    uint64_t ghi = t->hi, glo = t->lo;
    /* round g up (+1 at its last bit); no entry is all ones, so no carry out */
    if (narrow) {
        exact = exact && glo == 0;
        ghi += (uint64_t)!exact;
    } else if (!exact) {
        glo++;
        ghi += glo == 0;
    }
    /* 4x scaled v and interval ends; the interval is closed iff c is even */
    uint64_t cb = c << 2;
    uint64_t vb = scaled(ghi, glo, up, exact, q, k, cb, narrow);
    uint64_t vbl = scaled(ghi, glo, up, exact, q, k, cb - 2 + (uint64_t)irregular, narrow);
    uint64_t vbr = scaled(ghi, glo, up, exact, q, k, cb + 2, narrow);
    uint64_t open = c & 1;
    uint64_t s = vb >> 2, s1 = s / 10, u = s + 1;
    /* At most one multiple of ten fits (width < 10); if one does, it is
     * the shortest: 10*s1 or 10*(s1+1), returned divided by ten. Below
     * 10, 10 ties in length with 1..9, so that case takes the rest. */
    int sin10 = vbl + open <= s1 * 40, tin10 = s1 * 40 + 40 + open <= vbr;
    int shorter = sin10 != tin10 && s >= 10;
    /* Else the nearer of s and s+1 that is inside; at least one is. Both
     * in: compare with the midpoint, ties to even. (Selects, not
     * branches: which way they go is close to random.) */
    int sin = vbl + open <= s << 2, uin = (u << 2) + open <= vbr;
    uint64_t mid = (s << 2) + 2;
    int pick_u = uin & (!sin | (vb > mid) | ((vb == mid) & (int)(s & 1)));
    *e10 = k + shorter;
    return shorter ? s1 + (uint64_t)tin10 : s + (uint64_t)pick_u;
}

/* ---- layout ----------------------------------------------------------- */

/* Decimal digits of d >= 1. */
static inline int count_digits(uint64_t d) {
    int t = ((64 - __builtin_clzll(d)) * 1233) >> 12; /* floor(log10(2^bitlen)) */
    return t + 1 - (d < cd_num_pow10[t]);
}

/* Store v's bytes lowest first (the digit words below are built so). */
static inline void store64(char *p, uint64_t v) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

/* The eight digits of x < 10^8 (zero padded) as ASCII in one word, first
 * digit in the lowest byte: split into 4+4 digits in 32-bit lanes, then
 * 2+2 in 16-bit lanes, then 1+1 in bytes, dividing by multiplication
 * (x/100 = x*5243 >> 19 for x < 10^4, x/10 = x*103 >> 10 for x < 100). */
static inline uint64_t ascii8(uint32_t x) {
    uint64_t v = (uint64_t)(x / 10000) | (uint64_t)(x % 10000) << 32;
    uint64_t h = ((v * 5243) >> 19) & 0x0000007F0000007Full;
    v = h | (v - h * 100) << 16;
    h = ((v * 103) >> 10) & 0x000F000F000F000Full;
    v = h | (v - h * 10) << 8;
    return v + ASCII_ZEROS;
}

/* Write d * 10^e10 (d < 10^17 with n digits, the last nonzero) in
 * Number#toString layout at o, and return the length. The 17 digits of
 * d * 10^(17-n) are made in registers and stored whole, so bytes past the
 * length get overwritten too: o must have 25 writable bytes. narrow: n <=
 * 9, the last 8 of the 17 digits are zeros. */
static inline int layout(char *o, uint64_t d, int n, int e10, int narrow) {
    uint32_t hi;  /* the first 9 digits */
    uint64_t lo8; /* the last 8, as text */
    if (narrow) {
        hi = (uint32_t)(d * cd_num_pow10[9 - n]);
        lo8 = ASCII_ZEROS;
    } else {
        uint64_t dl = d * cd_num_pow10[17 - n];
        hi = (uint32_t)(dl / 100000000);
        lo8 = ascii8((uint32_t)(dl % 100000000));
    }
    char c0 = (char)('0' + hi / 100000000);
    uint64_t mid8 = ascii8(hi % 100000000);
    int pt = n + e10; /* v = 0.<digits> * 10^pt */
    if (0 < pt && pt <= 21) {
        o[0] = c0;
        store64(o + 1, mid8);
        store64(o + 9, lo8);
        if (n <= pt) { /* an integer: the digits' zeros run on to 21 */
            store64(o + 17, ASCII_ZEROS);
            return pt;
        }
        u128 rest = ((u128)lo8 << 64 | mid8) >> (8 * (pt - 1)); /* digits pt.. */
        o[pt] = '.';
        store64(o + pt + 1, (uint64_t)rest);
        if (n - pt > 8) store64(o + pt + 9, (uint64_t)(rest >> 64));
        return n + 1;
    }
    if (-6 < pt && pt <= 0) { /* 0.000ddd */
        store64(o, ASCII_ZEROS);
        o[1] = '.';
        char *p = o + 2 - pt;
        p[0] = c0;
        store64(p + 1, mid8);
        store64(p + 9, lo8);
        return 2 - pt + n;
    }
    o[0] = c0; /* d.ddde+x */
    o[1] = '.';
    store64(o + 2, mid8);
    store64(o + 10, lo8);
    int len = n == 1 ? 1 : n + 1;
    int x = pt - 1;
    o[len] = 'e';
    o[len + 1] = x < 0 ? '-' : '+';
    len += 2;
    if (x < 0) x = -x;
    if (x >= 100) {
        o[len++] = (char)('0' + x / 100);
        x %= 100;
    } else if (x < 10) {
        o[len] = (char)('0' + x);
        return len + 1;
    }
    memcpy(o + len, cd_num_digit_pairs + 2 * x, 2);
    return len + 2;
}

static int special(char *buf, int neg, int nan) {
    const char *s = nan ? "NaN" : neg ? "-Infinity" : "Infinity";
    size_t n = strlen(s);
    memcpy(buf, s, n);
    return (int)n;
}

/* Remove d's trailing zeros into *e10: one test, then (rare) four steps
 * of 8, 4, 2, 1 zeros, as selects (d < 10^17: at most 16 zeros). */
static inline uint64_t strip_zeros(uint64_t d, int *e10) {
    uint64_t q = d / 10;
    if (q * 10 != d) return d;
    d = q;
    int e = 1;
    q = d / 100000000;
    if (q * 100000000 == d) d = q, e += 8;
    q = d / 10000;
    if (q * 10000 == d) d = q, e += 4;
    q = d / 100;
    if (q * 100 == d) d = q, e += 2;
    q = d / 10;
    if (q * 10 == d) d = q, e += 1;
    *e10 += e;
    return d;
}

/* The same for d < 2^32 (floats: at most 8 zeros). */
static inline uint32_t strip_zeros32(uint32_t d, int *e10) {
    uint32_t q = d / 10;
    if (q * 10 != d) return d;
    d = q;
    int e = 1;
    q = d / 10000;
    if (q * 10000 == d) d = q, e += 4;
    q = d / 100;
    if (q * 100 == d) d = q, e += 2;
    q = d / 10;
    if (q * 10 == d) d = q, e += 1;
    *e10 += e;
    return d;
}

/* Common to both widths: c * 2^q with mbits fraction bits (23 means
 * float32, the narrow arithmetic). */
__attribute__((always_inline)) static inline int print_binary(char *buf, int neg, uint64_t c, int q, int irregular,
                                                              int mbits) {
    buf[0] = '-';
    char *o = buf + neg;
    if (c == 0) { /* -0 as -0.0: a reader that makes "-0" an integer (Python's json) keeps the sign */
        memcpy(o, "0.0", 3); /* past the length when positive: scratch (CD_NUM_MAX) */
        return neg ? 4 : 1;
    }
    need_tables();
    int narrow = mbits == 23, e10 = 0;
    uint64_t d;
    if (q <= 0 && q >= -mbits && (c & (((uint64_t)1 << -q) - 1)) == 0)
        d = c >> -q; /* an integer below 2^(mbits+1): its own digits are shortest */
    else
        d = shortest(c, q, irregular, narrow, &e10);
    d = narrow ? strip_zeros32((uint32_t)d, &e10) : strip_zeros(d, &e10);
    return neg + layout(o, d, count_digits(d), e10, narrow);
}

int cd_num_print_f64(double v, char *buf) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int neg = (int)(bits >> 63);
    int be = (int)(bits >> 52) & 0x7FF;
    uint64_t frac = bits & (((uint64_t)1 << 52) - 1);
    if (be == 0x7FF) return special(buf, neg, frac != 0);
    if (be == 0) return print_binary(buf, neg, frac, -1074, 0, 52);
    return print_binary(buf, neg, frac | (uint64_t)1 << 52, be - 1075, be > 1 && frac == 0, 52);
}

/* The old general path for float32: zero, subnormals, powers of two,
 * small integers, and scaled values too close to an integer for the fast
 * path to tell. */
__attribute__((noinline)) static int print_f32_general(uint32_t bits, char *buf) {
    int neg = (int)(bits >> 31);
    int be = (int)(bits >> 23) & 0xFF;
    uint64_t frac = bits & ((1u << 23) - 1);
    if (be == 0xFF) return special(buf, neg, frac != 0);
    if (be == 0) return print_binary(buf, neg, frac, -149, 0, 23);
    return print_binary(buf, neg, frac | (uint64_t)1 << 23, be - 150, be > 1 && frac == 0, 23);
}

/* ---- float32: the fast path ----------------------------------------------
 * For a normal float that is not a power of two nor a small integer, the
 * Schubfach steps above with a 64-bit power of ten g (exact, or rounded up
 * by less than one unit), all set by the biased exponent (table cd_num_f32tab).
 * The scaled ends of the rounding interval come from the product for v by
 * adding and subtracting one precomputed 128-bit delta (the same integers
 * as three products). When each scaled value's fraction exceeds the error
 * bound, none is an integer, so none equals an even comparand and the
 * interval's openness cannot matter; otherwise the general path decides.
 * The answer is h * 10 + r units of 10^k (h < 2 * 10^7, r < 10). h's eight
 * digits come as four digit pairs, each floor(frac(h / 10^2j) * 100)
 * with the fraction from one 64-bit product (exact for h < 2^64 / 10^8),
 * so the pairs are independent of each other. */

/* floor(2^64 / d) + 600 for d in {10^2, 10^4, 10^6, 10^8}: y = x * RECIP(d)
 * mod 2^64 is frac(x / d) * 2^64 plus eps * 2^64, eps = x * (600 d - (2^64
 * mod d)) / (d * 2^64), so 2^-55 <= eps < 1 / d for 1 <= x < 2 * 10^8:
 * then floor((y >> 9) * 100 / 2^55), from y's top 55 bits, is exactly
 * floor(frac(x / d) * 100), the digit pair of x at d / 100. */
#define RECIP(d) ((uint64_t)(((u128)1 << 64) / (d)) + 600)

/* That digit pair as text, first digit in the low byte. */
static inline uint64_t pair_at(uint64_t y) {
    return cd_num_pair16[((y >> 9) * 100) >> 55];
}

/* The fast-path Schubfach step for a normal float32 (bits; t is cd_num_f32tab at
 * its biased exponent): the shortest d (units of 10^t->k; 2^23 <= d < 2 *
 * 10^8, trailing zeros kept). *edge is set nonzero instead of a meaningful
 * d when a scaled value lies within the error bound of an integer (the
 * general path must decide then). Also safe (no UB, garbage d) for any
 * other bits with any table row, which the group printer relies on. */
static inline uint64_t f32_fast_d(uint32_t bits, const f32pow *t, int *edge) {
    uint64_t c = (uint64_t)((bits & 0x7FFFFF) | 0x800000);
    uint64_t x = c << (t->up2 & 63); /* 4c, shifted */
    u128 p = (u128)x * t->g;
    /* p - delta and p + delta in 64-bit halves (delta = dhi:dlo) */
    uint64_t lo = (uint64_t)p, vb = (uint64_t)(p >> 64), dlo = t->dlo;
    uint64_t lol = lo - dlo, lor = lo + dlo;
    uint64_t vbl = vb - t->dhi - (lo < dlo), vbr = vb + t->dhi + (lor < lo);
    uint64_t thr = (x + t->two_up) & t->mask; /* the error bound (0: g exact) */
    *edge = (lo <= thr) | (lol <= thr) | (lor <= thr);
    /* each scaled value y is in (floor, floor + 1): for an integer i,
     * i <= y iff i <= floor, and y < i iff floor < i */
    uint64_t s4 = vb & ~(uint64_t)3, s1 = vb / 40, t40 = s1 * 40;
    int sin10 = vbl < t40, tin10 = t40 + 40 <= vbr;
    int shorter = sin10 != tin10; /* s >= 2^23: the multiple of ten is shorter */
    int sin = vbl < s4, uin = s4 + 4 <= vbr;
    uint64_t pick_u = (uint64_t)(uin & ((!sin) | (int)(vb >> 1 & 1))); /* vb >= 4s + 2 */
    uint64_t sel = -(uint64_t)shorter; /* a select, not a branch: both are common */
    return ((s1 * 10 + (uint64_t)tin10 * 10) & sel) | (((vb >> 2) + pick_u) & ~sel);
}

/* The digits of d, 2^23 <= d < 2 * 10^8 (any d is safe, giving garbage):
 * *c0 the first of nine ('0' or '1'), returned the other eight as text
 * (first lowest); *lz the leading zeros among the nine (0 to 2), *tz the
 * trailing zeros of the eight. */
static inline uint64_t f32_text(uint64_t d, uint64_t *c0, int *lz, int *tz) {
    uint64_t x8 = pair_at(d * RECIP(100000000)) | pair_at(d * RECIP(1000000)) << 16 |
                  pair_at(d * RECIP(10000)) << 32 | pair_at(d * RECIP(100)) << 48;
    *c0 = '0' + (uint64_t)(d >= 100000000);
    *lz = (d < 100000000) + (d < 10000000);
    uint64_t nz = x8 ^ ASCII_ZEROS;
    *tz = (__builtin_clzll(nz | 1) + (nz == 0)) >> 3;
    return x8;
}

/* Write the number of f32_text's output times 10^k (pt = 9 - lz + k: v =
 * 0.<digits> * 10^pt, |pt| < 50) with a '-' when neg, in Number#toString
 * layout at buf; return the length. Writes scratch up to buf + 25. */
static inline int f32_layout(char *buf, int neg, uint64_t x8, uint64_t c0, int lz, int tz, int k) {
    int n = 9 - lz, m = n - tz, pt = n + k;
    buf[0] = '-';
    char *o = buf + neg;
    if (-6 < pt && pt <= 0) { /* 0.000ddd: the padding zeros of x8 land on zeros */
        store64(o, ASCII_ZEROS);
        o[2 - pt - lz] = (char)c0;
        store64(o + 3 - pt - lz, x8);
        o[1] = '.';
        return neg + 2 - pt + m;
    }
    u128 sd = ((u128)x8 << 8 | c0) >> (8 * lz); /* the n digits, first lowest */
    if (0 < pt && pt <= 21) {
        if (m <= pt) { /* an integer: the digits, then zeros up to pt */
            store64(o + 16, ASCII_ZEROS);
            sd |= (((u128)ASCII_ZEROS << 64) | ASCII_ZEROS) << (8 * n);
            store64(o, (uint64_t)sd);
            store64(o + 8, (uint64_t)(sd >> 64));
            return neg + pt;
        }
        store64(o, (uint64_t)sd); /* pt < m <= 9 */
        o[8] = (char)(sd >> 64);
        sd >>= 8 * pt;
        o[pt] = '.';
        store64(o + pt + 1, (uint64_t)sd);
        o[pt + 9] = (char)(sd >> 64);
        return neg + m + 1;
    }
    o[0] = (char)sd; /* d.ddde+x, |x| < 100 */
    o[1] = '.';
    store64(o + 2, (uint64_t)(sd >> 8));
    int len = m == 1 ? 1 : m + 1;
    int e = pt - 1;
    o[len] = 'e';
    o[len + 1] = e < 0 ? '-' : '+';
    len += 2;
    if (e < 0) e = -e;
    if (e < 10) {
        o[len] = (char)('0' + e);
        return neg + len + 1;
    }
    memcpy(o + len, cd_num_digit_pairs + 2 * e, 2);
    return neg + len + 2;
}

/* The general path decides: zero, subnormals, inf/nan, powers of two, and
 * floats whose value is an integer below 2^24 (exponents 127..150). */
static inline int f32_needs_general(uint32_t bits) {
    uint32_t be = (bits >> 23) & 0xFF;
    return (be - 1 >= 0xFE) | ((bits & 0x7FFFFF) == 0) |
           ((be - 127 <= 23) & ((bits & ((1u << ((150 - be) & 31)) - 1)) == 0));
}

static inline int print_f32_fast(uint32_t bits, char *buf) {
    const f32pow *t = &cd_num_f32tab[(bits >> 23) & 0xFF];
    int edge, lz, tz;
    uint64_t d = f32_fast_d(bits, t, &edge), c0;
    if (__builtin_expect(edge, 0)) return print_f32_general(bits, buf);
    uint64_t x8 = f32_text(d, &c0, &lz, &tz);
    return f32_layout(buf, (int)(bits >> 31), x8, c0, lz, tz, t->k);
}

int cd_num_print_f32(float v, char *buf) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    need_tables();
    if (__builtin_expect(f32_needs_general(bits), 0)) return print_f32_general(bits, buf);
    return print_f32_fast(bits, buf);
}

/* ---- lists ---------------------------------------------------------------
 * A tensor row: numbers four at a time, each step done for all four
 * before the next (written as loops over the group), so the four long
 * multiply chains are independent instructions side by side for the CPU
 * to overlap; then the four are laid out in order. A lane the fast path
 * cannot settle goes through the single-number printer. */

#define GROUP 4

/* Non-finite as a ProtoJSON string ("NaN" quoted); the length. */
static int quoted_special(char *o, int neg, int nan) {
    const char *s = nan ? "\"NaN\"" : neg ? "\"-Infinity\"" : "\"Infinity\"";
    size_t n = strlen(s);
    memcpy(o, s, n);
    return (int)n;
}

/* One float32 as a JSON list element: the number, or a quoted
 * non-finite; the length (scratch up to o + CD_NUM_MAX). */
static int list_elem_f32(uint32_t bits, char *o) {
    if ((bits & 0x7F800000) == 0x7F800000) return quoted_special(o, (int)(bits >> 31), (bits & 0x7FFFFF) != 0);
    if (f32_needs_general(bits)) return print_f32_general(bits, o);
    return print_f32_fast(bits, o);
}

/* f32_text for four d at once: x8[i], c0[i], lz[i], tz[i]. With SSE2 the
 * eight digits of d mod 10^8 come in 16-bit lanes: split at 10^4 (a
 * 32x32 multiply), then at 100 and 10 (16-bit multiply-high; x/100 =
 * x * 5243 >> 19 for x < 10^4, x/10 = x * 6554 >> 16 for x < 100). */
static inline void f32_text4(const uint64_t *d, uint64_t *x8, uint64_t *c0, int *lz, int *tz) {
#ifdef __SSE2__
    for (int i = 0; i < GROUP; i++) {
        c0[i] = '0' + (uint64_t)(d[i] >= 100000000);
        lz[i] = (d[i] < 100000000) + (d[i] < 10000000);
    }
    __m128i r = _mm_set_epi32((int)(d[3] - (c0[3] - '0') * 100000000), (int)(d[2] - (c0[2] - '0') * 100000000),
                              (int)(d[1] - (c0[1] - '0') * 100000000), (int)(d[0] - (c0[0] - '0') * 100000000));
    const __m128i m4 = _mm_set1_epi32(109951163); /* ceil(2^40 / 10^4): exact for r < 10^8 */
    __m128i q02 = _mm_srli_epi64(_mm_mul_epu32(r, m4), 40);
    __m128i q13 = _mm_srli_epi64(_mm_mul_epu32(_mm_srli_epi64(r, 32), m4), 40);
    __m128i hi = _mm_or_si128(q02, _mm_slli_epi64(q13, 32));             /* r / 10^4 per 32-bit lane */
    __m128i lo = _mm_sub_epi16(r, _mm_mullo_epi16(hi, _mm_set1_epi32(10000))); /* low halves: r % 10^4 */
    __m128i x = _mm_or_si128(hi, _mm_slli_epi32(lo, 16));               /* 4-digit halves, first lowest */
    __m128i q = _mm_srli_epi16(_mm_mulhi_epu16(x, _mm_set1_epi16(5243)), 3);
    __m128i y = _mm_sub_epi16(x, _mm_mullo_epi16(q, _mm_set1_epi16(100)));
    __m128i p01 = _mm_unpacklo_epi16(q, y), p23 = _mm_unpackhi_epi16(q, y); /* digit pairs */
    const __m128i m10 = _mm_set1_epi16(6554), ten = _mm_set1_epi16(10), zeros = _mm_set1_epi8('0');
    __m128i t01 = _mm_mulhi_epu16(p01, m10), t23 = _mm_mulhi_epu16(p23, m10);
    __m128i a = _mm_or_si128(t01, _mm_slli_epi16(_mm_sub_epi16(p01, _mm_mullo_epi16(t01, ten)), 8));
    __m128i b = _mm_or_si128(t23, _mm_slli_epi16(_mm_sub_epi16(p23, _mm_mullo_epi16(t23, ten)), 8));
    a = _mm_add_epi8(a, zeros);
    b = _mm_add_epi8(b, zeros);
    unsigned za = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, zeros));
    unsigned zb = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(b, zeros));
    uint64_t w[4];
    _mm_storeu_si128((__m128i *)(void *)w, a);
    _mm_storeu_si128((__m128i *)(void *)(w + 2), b);
    for (int i = 0; i < GROUP; i++) x8[i] = w[i];
    tz[0] = cd_num_tz8[za & 0xFF];
    tz[1] = cd_num_tz8[za >> 8];
    tz[2] = cd_num_tz8[zb & 0xFF];
    tz[3] = cd_num_tz8[zb >> 8];
#else
    for (int i = 0; i < GROUP; i++) x8[i] = f32_text(d[i], &c0[i], &lz[i], &tz[i]);
#endif
}

/* v[0..GROUP) each followed by ',' at o; returns the end. */
static inline char *f32_group(const float *v, char *o) {
    uint32_t bits[GROUP];
    int slow[GROUP], k[GROUP], lz[GROUP], tz[GROUP];
    uint64_t d[GROUP], x8[GROUP], c0[GROUP];
    memcpy(bits, v, sizeof bits);
    for (int i = 0; i < GROUP; i++) {
        const f32pow *t = &cd_num_f32tab[(bits[i] >> 23) & 0xFF];
        int edge;
        d[i] = f32_fast_d(bits[i], t, &edge);
        slow[i] = edge | ((bits[i] & t->imask) == 0) | ((bits[i] & 0x7FFFFF) == 0);
        k[i] = t->k;
    }
    f32_text4(d, x8, c0, lz, tz);
    for (int i = 0; i < GROUP; i++) {
        if (__builtin_expect(slow[i], 0)) o += list_elem_f32(bits[i], o);
        else o += f32_layout(o, (int)(bits[i] >> 31), x8[i], c0[i], lz[i], tz[i], k[i]);
        *o++ = ',';
    }
    return o;
}

size_t cd_num_print_f32_list(const float *v, size_t n, char *out) {
    if (n == 0) return 0;
    need_tables();
    char *o = out;
    size_t i = 0;
    for (; i + GROUP <= n; i += GROUP) o = f32_group(v + i, o);
    for (; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        o += list_elem_f32(bits, o);
        *o++ = ',';
    }
    return (size_t)(o - out) - 1; /* without the last ',' */
}

size_t cd_num_print_f64_list(const double *v, size_t n, char *out) {
    char *o = out;
    for (size_t i = 0; i < n; i++) {
        if (i) *o++ = ',';
        uint64_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        if ((bits >> 52 & 0x7FF) == 0x7FF)
            o += quoted_special(o, (int)(bits >> 63), (bits & (((uint64_t)1 << 52) - 1)) != 0);
        else
            o += cd_num_print_f64(v[i], o);
    }
    return (size_t)(o - out);
}

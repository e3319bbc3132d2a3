/* num.c -- the number codec of the JSON API (see num.h).
 *
 * Parsing: the JSON grammar is checked first (runs of digits found eight
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
 * buf + GD_NUM_MAX: give them GD_NUM_MAX bytes.
 *
 * The power-of-five table is computed at first use (pthread_once) with
 * exact bignum arithmetic: for 5^j, j in [-342, 324], a 128-bit T and e2
 * with 5^j = (T + d) * 2^e2, 2^127 <= T < 2^128, 0 <= d < 1. */
#include "num.h"

#include <errno.h>
#include <float.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

/* ---- bignum: just enough for table generation and the rare exact paths */

#define BN_LIMBS 48 /* 1536 bits; the largest value used is about 820 bits */

typedef struct bn {
    uint32_t w[BN_LIMBS]; /* little-endian limbs; limbs at index >= n are zero */
    int n;                /* used limbs: w[n-1] != 0, or n == 0 for zero */
} bn;

static void bn_set(bn *a, uint64_t v) {
    memset(a, 0, sizeof *a);
    a->w[0] = (uint32_t)v;
    a->w[1] = (uint32_t)(v >> 32);
    a->n = a->w[1] ? 2 : a->w[0] ? 1 : 0;
}

/* a *= m. */
static void bn_mul_small(bn *a, uint32_t m) {
    uint64_t carry = 0;
    for (int i = 0; i < a->n; i++) {
        uint64_t t = (uint64_t)a->w[i] * m + carry;
        a->w[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry) a->w[a->n++] = (uint32_t)carry;
}

/* a *= 5^e. */
static void bn_mul_pow5(bn *a, int e) {
    for (; e >= 13; e -= 13) bn_mul_small(a, 1220703125u); /* 5^13 */
    uint32_t m = 1;
    while (e-- > 0) m *= 5;
    bn_mul_small(a, m);
}

/* a <<= bits. */
static void bn_shl(bn *a, int bits) {
    if (a->n == 0 || bits == 0) return;
    int limbs = bits / 32, b = bits % 32;
    for (int i = a->n - 1; i >= 0; i--) {
        uint64_t t = (uint64_t)a->w[i] << b;
        a->w[i + limbs + 1] |= (uint32_t)(t >> 32);
        a->w[i + limbs] = (uint32_t)t;
        if (limbs) a->w[i] = 0;
    }
    a->n += limbs + 1;
    while (a->n > 0 && a->w[a->n - 1] == 0) a->n--;
}

static int bn_cmp(const bn *a, const bn *b) {
    if (a->n != b->n) return a->n < b->n ? -1 : 1;
    for (int i = a->n - 1; i >= 0; i--)
        if (a->w[i] != b->w[i]) return a->w[i] < b->w[i] ? -1 : 1;
    return 0;
}

/* a -= b; requires a >= b. */
static void bn_sub(bn *a, const bn *b) {
    int64_t borrow = 0;
    for (int i = 0; i < a->n; i++) {
        int64_t t = (int64_t)a->w[i] - (i < b->n ? b->w[i] : 0) - borrow;
        borrow = t < 0;
        a->w[i] = (uint32_t)(t + (borrow << 32));
    }
    while (a->n > 0 && a->w[a->n - 1] == 0) a->n--;
}

static int bn_bitlen(const bn *a) {
    return a->n ? 32 * a->n - __builtin_clz(a->w[a->n - 1]) : 0;
}

static int bn_bit(const bn *a, int i) {
    return i >= 0 && i < 32 * a->n ? (a->w[i / 32] >> (i % 32)) & 1 : 0;
}

/* floor(num / den) when it is below 2^64 (the caller knows), and whether
 * the division leaves a remainder; num is consumed. */
static uint64_t bn_div_small_quot(bn *num, const bn *den, int *inexact) {
    uint64_t quot = 0;
    bn t;
    for (int i = 63; i >= 0; i--) {
        t = *den;
        bn_shl(&t, i);
        if (bn_cmp(num, &t) >= 0) {
            bn_sub(num, &t);
            quot |= (uint64_t)1 << i;
        }
    }
    *inexact = num->n != 0;
    return quot;
}

/* ---- tables ---------------------------------------------------------- */

#define P5_MIN (-342)
#define P5_MAX 324
#define P5_N (P5_MAX - P5_MIN + 1)

typedef struct pow5 {
    uint64_t hi, lo; /* T */
    int32_t e2;      /* 5^j = (T + d) * 2^e2 */
    int32_t exact;   /* d == 0 */
} pow5;

static pow5 p5tab[P5_N];
static uint64_t p5u64[28]; /* 5^0 .. 5^27, all below 2^63 */
static char digit_pairs[200];
static pthread_once_t num_once = PTHREAD_ONCE_INIT;
static atomic_int num_ready;

/* The top 128 bits of a (bitlen L >= 1) into e, and whether bits below
 * them are all zero. */
static void take_top128(const bn *a, pow5 *e) {
    int len = bn_bitlen(a), from = len - 128;
    e->hi = e->lo = 0;
    for (int i = 0; i < 128; i++) {
        uint64_t bit = (uint64_t)bn_bit(a, from + i);
        if (i < 64) e->lo |= bit << i;
        else e->hi |= bit << (i - 64);
    }
    e->e2 = from;
    e->exact = 1;
    for (int i = 0; i < from; i++)
        if (bn_bit(a, i)) {
            e->exact = 0;
            break;
        }
}

/* 5^-n for n >= 1: T = floor(2^s / 5^n) with s = 127 + bitlen(5^n), by
 * binary long division; e2 = -s. Never exact. */
static void take_reciprocal(const bn *d, pow5 *e) {
    int b = bn_bitlen(d);
    bn r;
    bn_set(&r, 1);
    bn_shl(&r, b - 1); /* 2^(b-1) < d: the first b-1 quotient bits are 0 */
    e->hi = e->lo = 0;
    for (int i = 0; i < 128; i++) {
        bn_shl(&r, 1);
        uint64_t bit = 0;
        if (bn_cmp(&r, d) >= 0) {
            bn_sub(&r, d);
            bit = 1;
        }
        e->hi = e->hi << 1 | e->lo >> 63;
        e->lo = e->lo << 1 | bit;
    }
    e->e2 = -(127 + b);
    e->exact = 0;
}

static void num_init(void) {
    bn p;
    bn_set(&p, 1);
    for (int j = 0; j <= P5_MAX; j++) {
        take_top128(&p, &p5tab[j - P5_MIN]);
        bn_mul_small(&p, 5);
    }
    bn_set(&p, 1);
    for (int n = 1; n <= -P5_MIN; n++) {
        bn_mul_small(&p, 5);
        take_reciprocal(&p, &p5tab[-n - P5_MIN]);
    }
    p5u64[0] = 1;
    for (int i = 1; i < 28; i++) p5u64[i] = p5u64[i - 1] * 5;
    for (int i = 0; i < 100; i++) {
        digit_pairs[2 * i] = (char)('0' + i / 10);
        digit_pairs[2 * i + 1] = (char)('0' + i % 10);
    }
    atomic_store_explicit(&num_ready, 1, memory_order_release);
}

static inline void need_tables(void) {
    if (!atomic_load_explicit(&num_ready, memory_order_acquire)) pthread_once(&num_once, num_init);
}

/* ---- parsing ---------------------------------------------------------- */

#define ASCII_ZEROS 0x3030303030303030ull

static const uint64_t pow10_u64[20] = {1ull,
                                       10ull,
                                       100ull,
                                       1000ull,
                                       10000ull,
                                       100000ull,
                                       1000000ull,
                                       10000000ull,
                                       100000000ull,
                                       1000000000ull,
                                       10000000000ull,
                                       100000000000ull,
                                       1000000000000ull,
                                       10000000000000ull,
                                       100000000000000ull,
                                       1000000000000000ull,
                                       10000000000000000ull,
                                       100000000000000000ull,
                                       1000000000000000000ull,
                                       10000000000000000000ull};

static inline int is_digit(char c) {
    return (unsigned)(c - '0') < 10u;
}

#define INF_BITS 0x7FF0000000000000ull

/* Eisel-Lemire: the double nearest w * 10^q (w != 0, q in the table's
 * range) as bits (infinity's bits on overflow). Returns 0 when the
 * truncated power of five leaves the rounding undecided. */
__attribute__((noinline)) static int eisel_lemire(uint64_t w, int q, uint64_t *bits) {
    const pow5 *t = &p5tab[q - P5_MIN];
    int lz = __builtin_clzll(w);
    uint64_t wn = w << lz;
    /* P = wn * T, 192 bits: hi (top 128) and p0. The true product
     * wn * (T + d) is P + eps with 0 <= eps < 2^64 (eps = 0 iff exact). */
    u128 lo = (u128)wn * t->lo;
    u128 hi = (u128)wn * t->hi + (uint64_t)(lo >> 64);
    uint64_t p0 = (uint64_t)lo;
    int top = (hi >> 127) ? 191 : 190; /* highest set bit of P */
    int base = t->e2 + q - lz;         /* value = (P + eps) * 2^base */
    int ex = top + base;               /* value in [2^ex, 2^(ex+1)) */
    if (ex > 1023) {
        *bits = INF_BITS;
        return 1;
    }
    int kb = ex >= -1022 ? top - 52 : -1074 - base; /* lowest mantissa bit of P */
    if (kb > top + 1) {                              /* below 2^-1075: zero */
        *bits = 0;
        return 1;
    }
    int nb = kb - 64; /* bits of hi below the mantissa, 74..128 */
    uint64_t m = nb == 128 ? 0 : (uint64_t)(hi >> nb);
    u128 g = nb == 128 ? hi : hi & (((u128)1 << nb) - 1);
    u128 half = (u128)1 << (nb - 1);
    int up;
    if (t->exact) {
        up = g > half || (g == half && (p0 != 0 || (m & 1)));
    } else {
        /* the rest below the mantissa is g:p0 + eps, 0 < eps < 2^64 */
        if ((g == half && p0 == 0) || (g == half - 1 && p0 != 0)) return 0;
        up = g >= half;
    }
    m += (uint64_t)up;
    /* normal: m in [2^52, 2^53] carries into the exponent field itself */
    *bits = ex >= -1022 ? ((uint64_t)(ex + 1022) << 52) + m : m;
    return 1;
}

/* The hard cases: strtod on digits[e]exponent rebuilt from the mantissa
 * text [m, mant_end), so neither the locale's decimal point nor the
 * token's length matters. q is the exponent of the first nd significant
 * digits. */
__attribute__((noinline)) static gd_num_status parse_slow(const char *m, const char *mant_end, int neg, int q, int nd,
                                                          double *out) {
    enum { MAXD = 780 };
    char buf[MAXD + 32];
    char *b = buf;
    if (neg) *b++ = '-';
    int kept = 0, tail = 0, started = 0;
    for (const char *p = m; p < mant_end; p++) {
        if (*p == '.') continue;
        if (!started && *p == '0') continue;
        started = 1;
        if (kept < MAXD) {
            *b++ = *p;
            kept++;
        } else if (*p != '0') {
            tail = 1;
        }
    }
    if (tail) {
        *b++ = '1'; /* any digit strictly inside the dropped span decides alike */
        kept++;
    }
    int e = q - (kept - nd);
    *b++ = 'e';
    if (e < 0) {
        *b++ = '-';
        e = -e;
    }
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + e % 10);
        e /= 10;
    } while (e);
    while (n) *b++ = tmp[--n];
    *b = 0;
    int saved = errno;
    double v = strtod(buf, NULL);
    errno = saved;
    if (v > DBL_MAX || v < -DBL_MAX) return GD_NUM_RANGE;
    *out = v;
    return GD_NUM_OK;
}

static const double exact_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
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

/* The first digit at or after p that is not a digit (or end). */
static inline const char *skip_digits(const char *p, const char *end) {
    for (; end - p >= 8; p += 8) {
        uint64_t m = nondigits(load64(p));
        if (m) return p + (__builtin_ctzll(m) >> 3);
    }
    while (p < end && is_digit(*p)) p++;
    return p;
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

/* w with the digits of [p, e) appended (e - p <= 19, w small enough);
 * bytes up to end may be read. */
static inline uint64_t accumulate(uint64_t w, const char *p, const char *e, const char *end) {
    for (; e - p >= 8; p += 8) w = w * 100000000 + value8(load64(p), 8);
    int n = (int)(e - p);
    if (n == 0) return w;
    if (end - p >= 8) return w * pow10_u64[n] + value8(load64(p), n);
    for (; p < e; p++) w = w * 10 + (unsigned)(*p - '0');
    return w;
}

/* A JSON number as the grammar found it. */
typedef struct num_text {
    const char *ib, *ie; /* integer digits */
    const char *fb, *fe; /* fraction digits (empty: none) */
    int64_t exp;         /* the exponent part, saturated */
    int neg;
} num_text;

/* Check the grammar -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? from
 * s; *next is just past the number, or at the offending character. */
static inline gd_num_status scan(const char *s, const char *end, num_text *t, const char **next) {
    const char *p = s;
    t->neg = p < end && *p == '-';
    p += t->neg;
    *next = p;
    if (p == end || !is_digit(*p)) return GD_NUM_SYNTAX;
    t->ib = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            *next = p;
            return GD_NUM_SYNTAX;
        }
    } else {
        p = skip_digits(p + 1, end);
    }
    t->ie = t->fb = t->fe = p;
    if (p < end && *p == '.') {
        t->fb = ++p;
        if (p == end || !is_digit(*p)) {
            *next = p;
            return GD_NUM_SYNTAX;
        }
        p = t->fe = skip_digits(p + 1, end);
    }
    t->exp = 0;
    if (p < end && (*p | 0x20) == 'e') {
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-')) eneg = *p++ == '-';
        if (p == end || !is_digit(*p)) {
            *next = p;
            return GD_NUM_SYNTAX;
        }
        int64_t e = 0;
        do {
            if (e < 100000000000000000) e = e * 10 + (*p - '0'); /* saturates far beyond any token */
            p++;
        } while (p < end && is_digit(*p));
        t->exp = eneg ? -e : e;
    }
    *next = p;
    return GD_NUM_OK;
}

/* The number's first nd <= 19 significant digits w, so it is w * 10^*q
 * plus what was dropped (*trunc: a nonzero digit). Bytes up to end may be
 * read. */
static inline uint64_t significant(const num_text *t, const char *end, int *nd, int64_t *q, int *trunc) {
    const char *ie = t->ie, *f = t->fb;
    if (*t->ib == '0') { /* no integer digits: skip the fraction's leading zeros */
        ie = t->ib;
        while (f < t->fe && *f == '0') f++;
    }
    size_t ni = (size_t)(ie - t->ib), nsig = ni + (size_t)(t->fe - f);
    *q = t->exp - (int64_t)(t->fe - t->fb);
    *trunc = 0;
    if (nsig <= 19) {
        *nd = (int)nsig;
        return accumulate(accumulate(0, t->ib, ie, end), f, t->fe, end);
    }
    /* the first 19: from the integer part, then the fraction */
    size_t take_i = ni < 19 ? ni : 19, take_f = 19 - take_i; /* take_f < fe - f */
    int dropped = 0;
    for (const char *c = t->ib + take_i; c < ie; c++) dropped |= *c != '0';
    for (const char *c = f + take_f; c < t->fe; c++) dropped |= *c != '0';
    *trunc = dropped;
    *nd = 19;
    *q += (int64_t)(nsig - 19);
    return accumulate(accumulate(0, t->ib, t->ib + take_i, end), f, f + take_f, end);
}

gd_num_status gd_num_parse(const char *s, const char *end, double *out, const char **next) {
    num_text t;
    gd_num_status st = scan(s, end, &t, next);
    if (st != GD_NUM_OK) return st;
    int nd, trunc;
    int64_t q64;
    uint64_t w = significant(&t, end, &nd, &q64, &trunc);
    if (w == 0 || q64 + nd <= -324) { /* below 10^-324 < 2^-1075: zero */
        *out = t.neg ? -0.0 : 0.0;
        return GD_NUM_OK;
    }
    if (q64 + nd - 1 >= 309) return GD_NUM_RANGE; /* at least 1e309 */
    int q = (int)q64;                              /* now in [-342, 308] */
#if FLT_EVAL_METHOD == 0
    if (!trunc && w <= (uint64_t)1 << 53 && q >= -22 && q <= 22) {
        double d = (double)w;
        d = q < 0 ? d / exact_pow10[-q] : d * exact_pow10[q];
        *out = t.neg ? -d : d;
        return GD_NUM_OK;
    }
#endif
    need_tables();
    uint64_t bits, bits2;
    int ok = eisel_lemire(w, q, &bits);
    if (ok && trunc) ok = eisel_lemire(w + 1, q, &bits2) && bits2 == bits;
    if (!ok) return parse_slow(t.ib, t.fb == t.fe ? t.ie : t.fe, t.neg, q, nd, out);
    if (bits >= INF_BITS) return GD_NUM_RANGE;
    bits |= (uint64_t)t.neg << 63;
    memcpy(out, &bits, sizeof bits);
    return GD_NUM_OK;
}

/* ---- shortest digits (Schubfach) -------------------------------------- */

/* x = cp * 2^q * 10^-k, computed as cp * g / 2^sh with g the power of
 * five 5^-k rounded up: 128 bits (ghi:glo) for doubles, the top 64 (ghi)
 * for floats (narrow). sh is 124..127 (doubles) or 60..63 past 64
 * (floats); cp is shifted left by up = 128 - sh first, so the integer
 * part is the product's top word and the fraction the words below. */

/* floor(x) | (x is not an integer), exactly, by bignum division. */
static uint64_t scaled_exact(uint64_t cp, int q, int k) {
    int a = q - k, b = -k; /* x = cp * 2^a * 5^b */
    bn num, den;
    bn_set(&num, cp);
    bn_set(&den, 1);
    if (b > 0) bn_mul_pow5(&num, b);
    else bn_mul_pow5(&den, -b);
    if (a > 0) bn_shl(&num, a);
    else bn_shl(&den, -a);
    int inexact;
    uint64_t f = bn_div_small_quot(&num, &den, &inexact);
    return f | (uint64_t)inexact;
}

/* The fraction of cp * g / 2^sh is within g's overshoot bound: x may be
 * an integer, or just below ip. Settle it exactly. */
static uint64_t scaled_edge(uint64_t cp, int q, int k, uint64_t ip) {
    int a = q - k, b = -k; /* x = cp * 2^a * 5^b */
    int integer = (a >= 0 || __builtin_ctzll(cp) >= -a) && (b >= 0 || (b >= -27 && cp % p5u64[-b] == 0));
    if (integer) return ip; /* the overshoot is below 1 */
    return scaled_exact(cp, q, k);
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

/* floor(q * log10(2)), and floor(log10(3/4 * 2^q)), for |q| <= 1200
 * (checked exhaustively against exact arithmetic). */
static inline int flog10_pow2(int q) {
    return (int)((((int64_t)q * 315653) + ((int64_t)4000 << 20)) >> 20) - 4000;
}
static inline int flog10_3q4_pow2(int q) {
    return (int)((((int64_t)q * 315653 - 131237) + ((int64_t)4000 << 20)) >> 20) - 4000;
}

/* The shortest decimal d * 10^*e10 that rounds (to nearest, ties even) to
 * v = c * 2^q, nearest to v among the shortest. irregular: the gap below v
 * is half the gap above (c is a power of two above the smallest binade).
 * narrow: c < 2^24 (float32), so 64 bits of g are enough. */
static inline uint64_t shortest(uint64_t c, int q, int irregular, int narrow, int *e10) {
    int k = irregular ? flog10_3q4_pow2(q) : flog10_pow2(q);
    const pow5 *t = &p5tab[-k - P5_MIN];
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
    return t + 1 - (d < pow10_u64[t]);
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
        hi = (uint32_t)(d * pow10_u64[9 - n]);
        lo8 = ASCII_ZEROS;
    } else {
        uint64_t dl = d * pow10_u64[17 - n];
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
    memcpy(o + len, digit_pairs + 2 * x, 2);
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
    if (c == 0) {
        o[0] = '0';
        return neg + 1;
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

int gd_num_print_f64(double v, char *buf) {
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int neg = (int)(bits >> 63);
    int be = (int)(bits >> 52) & 0x7FF;
    uint64_t frac = bits & (((uint64_t)1 << 52) - 1);
    if (be == 0x7FF) return special(buf, neg, frac != 0);
    if (be == 0) return print_binary(buf, neg, frac, -1074, 0, 52);
    return print_binary(buf, neg, frac | (uint64_t)1 << 52, be - 1075, be > 1 && frac == 0, 52);
}

int gd_num_print_f32(float v, char *buf) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    int neg = (int)(bits >> 31);
    int be = (int)(bits >> 23) & 0xFF;
    uint64_t frac = bits & ((1u << 23) - 1);
    if (be == 0xFF) return special(buf, neg, frac != 0);
    if (be == 0) return print_binary(buf, neg, frac, -149, 0, 23);
    return print_binary(buf, neg, frac | (uint64_t)1 << 23, be - 150, be > 1 && frac == 0, 23);
}

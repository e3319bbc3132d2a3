/* num_tables.c -- the number codec's tables and its exact arithmetic
 * (see num_impl.h): the 128-bit powers of five both halves use, the
 * printers' digit and float32 tables, built once at first use
 * (pthread_once) with exact bignum arithmetic, and the bignum division
 * the printers fall back on when a scaled value is too close to an
 * integer to settle from the tables. For 5^j, j in [-342, 324]: a 128-bit
 * T and e2 with 5^j = (T + d) * 2^e2, 2^127 <= T < 2^128, 0 <= d < 1. */
#include "num_impl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

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

pow5 cd_num_p5tab[P5_N];
uint64_t cd_num_p5u64[28];
char cd_num_digit_pairs[200];
uint16_t cd_num_pair16[100];
uint8_t cd_num_tz8[256];

f32pow cd_num_f32tab[256];
static pthread_once_t num_once = PTHREAD_ONCE_INIT;
atomic_int cd_num_ready;

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
        take_top128(&p, &cd_num_p5tab[j - P5_MIN]);
        bn_mul_small(&p, 5);
    }
    bn_set(&p, 1);
    for (int n = 1; n <= -P5_MIN; n++) {
        bn_mul_small(&p, 5);
        take_reciprocal(&p, &cd_num_p5tab[-n - P5_MIN]);
    }
    for (int be = 1; be < 255; be++) {
        int q = be - 150, k = flog10_pow2(q);
        const pow5 *t = &cd_num_p5tab[-k - P5_MIN];
        int exact = t->exact && t->lo == 0, up = 128 - (k - q - t->e2);
        f32pow *f = &cd_num_f32tab[be];
        f->g = t->hi + (uint64_t)!exact;
        f->mask = exact ? 0 : ~(uint64_t)0;
        f->up2 = up + 2;
        f->k = k;
        f->two_up = (uint64_t)2 << up;
        u128 delta = (u128)f->two_up * f->g;
        f->dlo = (uint64_t)delta;
        f->dhi = (uint64_t)(delta >> 64);
        f->imask = be >= 127 && be <= 150 ? (1u << (150 - be)) - 1 : ~0u;
    }
    cd_num_p5u64[0] = 1;
    for (int i = 1; i < 28; i++) cd_num_p5u64[i] = cd_num_p5u64[i - 1] * 5;
    for (int i = 0; i < 100; i++) {
        cd_num_digit_pairs[2 * i] = (char)('0' + i / 10);
        cd_num_digit_pairs[2 * i + 1] = (char)('0' + i % 10);
        cd_num_pair16[i] = (uint16_t)(('0' + i / 10) | ('0' + i % 10) << 8);
    }
    for (int m = 0; m < 256; m++) {
        int z = 0;
        while (z < 8 && (m >> (7 - z) & 1)) z++;
        cd_num_tz8[m] = (uint8_t)z;
    }
    atomic_store_explicit(&cd_num_ready, 1, memory_order_release);
}

void cd_num_build_tables(void) {
    pthread_once(&num_once, num_init);
}

const uint64_t cd_num_pow10[20] = {1ull,
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

/* ---- the exact slow path of the printers ----------------------------- */

/* floor(x) | (x is not an integer), exactly, by bignum division. */
uint64_t cd_num_scaled_exact(uint64_t cp, int q, int k) {
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

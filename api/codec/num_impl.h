/* num_impl.h -- what the parts of the number codec share (api/codec/
 * num_tables.c: the tables and the exact slow path; num.c: printing;
 * num_parse.c: parsing). Not for other modules. */
#ifndef CD_NUM_IMPL_H
#define CD_NUM_IMPL_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

typedef unsigned __int128 u128;

#define ASCII_ZEROS 0x3030303030303030ull

/* 5^j for j in [P5_MIN, P5_MAX]: 5^j = (T + d) * 2^e2, 2^127 <= T < 2^128,
 * 0 <= d < 1 (T = hi:lo; exact: d == 0). Built at first use. */
#define P5_MIN (-342)
#define P5_MAX 324
#define P5_N (P5_MAX - P5_MIN + 1)

typedef struct pow5 {
    uint64_t hi, lo; /* T */
    int32_t e2;      /* 5^j = (T + d) * 2^e2 */
    int32_t exact;   /* d == 0 */
} pow5;

extern pow5 cd_num_p5tab[P5_N];
extern const uint64_t cd_num_pow10[20]; /* 10^0 .. 10^19 */
extern atomic_int cd_num_ready;

/* float32 by biased exponent be (1..254, as regular binades): k and the
 * 64-bit power of five g for 10^-k (rounded up unless exact: mask 0 then,
 * else all ones); up, with the scaled value (c << up) * g / 2^128; two_up
 * = 2 << up, the step from v to an end of its interval; delta = two_up * g. */
typedef struct f32pow {
    uint64_t g, mask, two_up;
    uint64_t dlo, dhi; /* delta */
    int32_t up2, k; /* up + 2 */
    uint32_t imask; /* bits & imask == 0: an integer, or be is 0 or 255 */
} f32pow;

/* The printers' tables, built with cd_num_p5tab. */
extern f32pow cd_num_f32tab[256];      /* by float32 biased exponent */
extern uint64_t cd_num_p5u64[28];      /* 5^0 .. 5^27, all below 2^63 */
extern char cd_num_digit_pairs[200];   /* "00".."99" */
extern uint16_t cd_num_pair16[100];    /* the same as values, first digit lowest */
/* Trailing '0's of eight digits from their "is '0'" bit mask (bit i:
 * digit i, first digit lowest). */
extern uint8_t cd_num_tz8[256];

/* floor(q * log10(2)) for |q| <= 1200 (checked exhaustively against exact
 * arithmetic). */
static inline int flog10_pow2(int q) {
    return (int)((((int64_t)q * 315653) + ((int64_t)4000 << 20)) >> 20) - 4000;
}

/* x = cp * 2^q * 10^-k (cp < 2^64, x < 2^64): floor(x) with its lowest
 * bit set when x is not an integer, exactly, by bignum division (the
 * printers' rare path). */
uint64_t cd_num_scaled_exact(uint64_t cp, int q, int k);

/* Build the tables (once, from any thread). */
void cd_num_build_tables(void);

static inline void need_tables(void) {
    if (!atomic_load_explicit(&cd_num_ready, memory_order_acquire)) cd_num_build_tables();
}

#endif

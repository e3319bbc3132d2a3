/* num_impl.h -- what the two halves of the number codec share (api/codec/num.c:
 * tables and printing; api/codec/num_parse.c: parsing). Not for other modules. */
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

/* Build the tables (once, from any thread). */
void cd_num_build_tables(void);

static inline void need_tables(void) {
    if (!atomic_load_explicit(&cd_num_ready, memory_order_acquire)) cd_num_build_tables();
}

#endif

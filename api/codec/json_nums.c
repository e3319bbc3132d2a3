/* json_nums.c -- see json_nums.h.
 *
 * How: the text is taken 64 bytes at a time. Each byte is classed as a
 * number character ([0-9+-.eE]), ',', whitespace, or other; the run ends
 * at the first "other" byte, which must be the ']'. From the class masks:
 *   starts = number bytes whose previous byte is not one (token starts),
 *   ends   = other bytes whose previous byte is one (just past a token),
 * and the run is well formed when its tokens and commas alternate,
 * token first and last: the inclusive prefix parity of (starts | commas)
 * is 1 at every start and 0 at every comma (and 1 at the end). Numbers
 * are then parsed from their starts, each independently of the others,
 * and each must end exactly at its token's end. Anything unusual (a
 * token the short parser declines, a bad character, the body's end)
 * goes to cd_num_parse or rejects the run, and json.c's general path
 * then reads the array and reports any error. */
#include "json_nums.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "num.h"
#include "num_short.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define CD_NUMS_X86 1
#include <immintrin.h>
#else
#define CD_NUMS_X86 0
#endif

static int nums_mode = CD_JSON_NUMS_AUTO;

void cd_json_nums_set_mode(int mode) { nums_mode = mode; }

int cd_json_nums_mode(void) { return nums_mode; }

int cd_json_nums_have_avx2(void) {
#if CD_NUMS_X86
    return __builtin_cpu_supports("avx2") ? 1 : 0;
#else
    return 0;
#endif
}

int cd_json_nums_indexed(void) {
    return nums_mode == CD_JSON_NUMS_SCALAR || (nums_mode == CD_JSON_NUMS_AUTO && cd_json_nums_have_avx2());
}

/* ---- byte classes ------------------------------------------------------ */

/* Class bits, shared by the scalar table and the AVX2 nibble tables
 * (a byte's class is hi[byte >> 4] & lo[byte & 15]). */
enum {
    K_DIGIT = 1,  /* 0-9 */
    K_SIGN = 2,   /* + - . */
    K_COMMA = 4,  /* , */
    K_EXP = 8,    /* e E */
    K_SPACE = 16, /* ' ' */
    K_CTRL = 32,  /* \t \n \r */
    K_NUM = K_DIGIT | K_SIGN | K_EXP,
};

/* The masks of one 64-byte block, bit i for byte i. */
typedef struct block_masks {
    uint64_t num, comma, other;
} block_masks;

/* The class of each byte (0: other). */
static const unsigned char class_table[256] = {
    ['0'] = K_DIGIT, ['1'] = K_DIGIT, ['2'] = K_DIGIT, ['3'] = K_DIGIT, ['4'] = K_DIGIT,
    ['5'] = K_DIGIT, ['6'] = K_DIGIT, ['7'] = K_DIGIT, ['8'] = K_DIGIT, ['9'] = K_DIGIT,
    ['+'] = K_SIGN,  ['-'] = K_SIGN,  ['.'] = K_SIGN,  [','] = K_COMMA, ['e'] = K_EXP,
    ['E'] = K_EXP,   [' '] = K_SPACE, ['\t'] = K_CTRL, ['\n'] = K_CTRL, ['\r'] = K_CTRL,
};

/* Classify b[0..64) byte by byte. */
static inline void classify_scalar(const unsigned char *b, block_masks *m) {
    const unsigned char *table = class_table;
    uint64_t num = 0, comma = 0, other = 0;
    for (int i = 0; i < 64; i++) {
        unsigned k = table[b[i]];
        num |= (uint64_t)((k & K_NUM) != 0) << i;
        comma |= (uint64_t)((k & K_COMMA) != 0) << i;
        other |= (uint64_t)(k == 0) << i;
    }
    m->num = num;
    m->comma = comma;
    m->other = other;
}

#if CD_NUMS_X86
/* Classify b[0..64) with two nibble lookups per 32 bytes: the classes of
 * class_table (the tests put every byte value in a run, both ways). */
__attribute__((target("avx2"))) static inline void classify_avx2(const unsigned char *b, block_masks *m) {
    const __m256i lo_t = _mm256_setr_epi8(
        K_DIGIT | K_SPACE, K_DIGIT, K_DIGIT, K_DIGIT, K_DIGIT, K_DIGIT | K_EXP, K_DIGIT, K_DIGIT, K_DIGIT,
        K_DIGIT | K_CTRL, K_CTRL, K_SIGN, K_COMMA, K_SIGN | K_CTRL, K_SIGN, 0, K_DIGIT | K_SPACE, K_DIGIT, K_DIGIT,
        K_DIGIT, K_DIGIT, K_DIGIT | K_EXP, K_DIGIT, K_DIGIT, K_DIGIT, K_DIGIT | K_CTRL, K_CTRL, K_SIGN, K_COMMA,
        K_SIGN | K_CTRL, K_SIGN, 0);
    const __m256i hi_t = _mm256_setr_epi8(K_CTRL, 0, K_SIGN | K_COMMA | K_SPACE, K_DIGIT, K_EXP, 0, K_EXP, 0, 0, 0, 0,
                                          0, 0, 0, 0, 0, K_CTRL, 0, K_SIGN | K_COMMA | K_SPACE, K_DIGIT, K_EXP, 0,
                                          K_EXP, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nib = _mm256_set1_epi8(0x0F), zero = _mm256_setzero_si256();
    const __m256i knum = _mm256_set1_epi8(K_NUM), kcomma = _mm256_set1_epi8(K_COMMA);
    uint64_t notnum = 0, comma = 0, other = 0;
    for (int h = 0; h < 2; h++) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(const void *)(b + 32 * h));
        __m256i lo = _mm256_and_si256(v, nib), hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), nib);
        __m256i k = _mm256_and_si256(_mm256_shuffle_epi8(lo_t, lo), _mm256_shuffle_epi8(hi_t, hi));
        uint64_t nn = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(k, knum), zero));
        uint64_t cm = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(k, kcomma), kcomma));
        uint64_t ot = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(k, zero));
        notnum |= nn << (32 * h);
        comma |= cm << (32 * h);
        other |= ot << (32 * h);
    }
    m->num = ~notnum;
    m->comma = comma;
    m->other = other;
}
#endif

/* ---- the run ----------------------------------------------------------- */

/* Bit i set when bits 0..i of x hold an odd count of ones. */
static inline uint64_t prefix_xor(uint64_t x) {
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    return x;
}

/* What carries from one block to the next. */
typedef struct run_state {
    const char *end;     /* the body's end */
    const char *pending; /* the start of a number still open, or NULL */
    uint64_t prev_num;   /* 1: the last byte of the previous block is a number character */
    uint64_t parity;     /* all ones: an odd count of items (numbers, commas) so far */
} run_state;

/* Grow *nums to hold at least need doubles (doubling, as json.c's grow).
 * 0 when out of memory. */
static int reserve(double **nums, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) ncap *= 2;
    double *nb = realloc(*nums, ncap * sizeof *nb);
    if (!nb) return 0;
    *nums = nb;
    *cap = ncap;
    return 1;
}

/* The number [s, e) as *num / *den (the division rounding once to the
 * double the general loop's parsers give), or 0 when those parsers do
 * not read exactly that span as a number. */
static inline __attribute__((always_inline)) int parse_span(const char *s, const char *e, const char *end,
                                                            double *num, double *den) {
    if (end - s >= 9 && cd_num_span8_parts(s, e, num, den)) return 1;
    const char *next;
    *den = 1.0; /* x / 1 is x, -0 included */
    if (cd_num_parse_short(s, end, num, &next) && next == e) return 1;
    return cd_num_parse(s, end, num, &next) == CD_NUM_OK && next == e;
}

/* Index and parse the 64-byte block of text at b (masks m; a partial
 * last block was classified from a zero-padded copy). Returns 1 to go on
 * to the next block, 2 at the run's ']' (*close set), 0 when not a run,
 * -1 when out of memory. */
static inline __attribute__((always_inline)) int run_block(run_state *R, const char *b, block_masks m,
                                                           double **nums, size_t *cap, size_t *n,
                                                           const char **close) {
    uint64_t num = m.num, comma = m.comma;
    const char *stop = NULL;
    if (m.other) {
        int sb = __builtin_ctzll(m.other);
        if (b + sb >= R->end || b[sb] != ']') return 0; /* the body's end, or a stray character */
        uint64_t keep = ((uint64_t)1 << sb) - 1;
        num &= keep;
        comma &= keep;
        stop = b + sb;
    }
    uint64_t carried = (num << 1) | R->prev_num;
    uint64_t starts = num & ~carried, ends = ~num & carried;
    uint64_t px = prefix_xor(starts | comma) ^ R->parity;
    if ((starts & ~px) | (comma & px)) return 0; /* two numbers or two commas in a row, or a comma first */
    R->parity = 0 - (px >> 63);
    R->prev_num = num >> 63;
    if (stop && !R->parity) return 0; /* a trailing comma */
    if (!reserve(nums, cap, *n + 64)) return -1;
    /* Two passes: the numbers' digits and scales first, then the
     * divisions together (vectorized where the compiler can). */
    double *out = *nums + *n, den[64];
    const char *end = R->end;
    int k = 0;
    if (R->pending && ends) { /* the number from the previous block ends here */
        if (!parse_span(R->pending, b + __builtin_ctzll(ends), end, &out[0], &den[0])) return 0;
        k = 1;
        ends &= ends - 1;
        R->pending = NULL;
    }
    for (; ends; k++) {
        const char *s = b + __builtin_ctzll(starts), *e = b + __builtin_ctzll(ends);
        starts &= starts - 1;
        ends &= ends - 1;
        if (!parse_span(s, e, end, &out[k], &den[k])) return 0;
    }
    for (int i = 0; i < k; i++) out[i] /= den[i];
    if (starts) R->pending = b + __builtin_ctzll(starts);
    *n += (size_t)k;
    if (!stop) return 1;
    *close = stop;
    return 2;
}

/* The scan loop, once per classifier. */
#define RUN_LOOP(classify)                                                                                      \
    run_state R = {.end = end, .pending = NULL, .prev_num = 0, .parity = 0};                                    \
    for (const char *b = s;; b += 64) {                                                                         \
        block_masks m;                                                                                          \
        if (end - b >= 64) {                                                                                    \
            classify((const unsigned char *)b, &m);                                                             \
        } else {                                                                                                \
            unsigned char pad[64] = {0}; /* class "other": the run cannot end in the padding */                \
            memcpy(pad, b, (size_t)(end - b));                                                                  \
            classify(pad, &m);                                                                                  \
        }                                                                                                       \
        int r = run_block(&R, b, m, nums, cap, n, close);                                                       \
        if (r != 1) return r == 2 ? 1 : r;                                                                      \
    }

/* cd_json_nums_run with the scalar classifier. */
static int run_scalar(const char *s, const char *end, double **nums, size_t *cap, size_t *n, const char **close) {
    RUN_LOOP(classify_scalar)
}

#if CD_NUMS_X86
/* cd_json_nums_run with the AVX2 classifier (only on CPUs that have it). */
__attribute__((target("avx2"))) static int run_avx2(const char *s, const char *end, double **nums, size_t *cap,
                                                    size_t *n, const char **close) {
    RUN_LOOP(classify_avx2)
}
#endif

int cd_json_nums_run(const char *s, const char *end, double **nums, size_t *cap, size_t *n, const char **close) {
#if CD_NUMS_X86
    if (nums_mode != CD_JSON_NUMS_SCALAR && __builtin_cpu_supports("avx2"))
        return run_avx2(s, end, nums, cap, n, close);
#endif
    return run_scalar(s, end, nums, cap, n, close);
}

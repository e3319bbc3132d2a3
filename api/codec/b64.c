/* b64.c -- base64 for tensors (see b64.h).
 *
 * Scalar path (any CPU; also the last bytes of every call):
 *   encode: a 4096-entry table of character pairs, 12 bits per lookup;
 *   decode: a 64K-entry table mapping two characters (one 16-bit load) to
 *   their 12 bits, or to a flag bit when either is invalid; eight
 *   characters per 64-bit load and six bytes per 64-bit store. The last
 *   quantum, which may hold padding, goes through per-position tables of
 *   pre-shifted 6-bit values.
 *
 * AVX2 path (chosen once, at first use, with __builtin_cpu_supports):
 *   encode, 24 bytes -> 32 characters per step: each 128-bit lane holds 12
 *   input bytes; a byte shuffle puts each 3-byte group s0 s1 s2 into a
 *   32-bit word as s1 s0 s2 s1, so that its four 6-bit fields sit in the
 *   two 16-bit halves at known places; masks plus a high and a low 16-bit
 *   multiply move each field to the bottom of its own byte. A character is
 *   then field + offset, where the offset comes from a 16-entry byte
 *   shuffle table indexed by the field's range (0-25, 26-51, 52-61, 62,
 *   63), computed with a saturating subtract and a compare.
 *   decode, 32 characters -> 24 bytes per step: a character is valid iff
 *   lo_class[c & 15] & hi_class[c >> 4] == 0 (two byte-shuffle lookups;
 *   the tables are derived below); its 6-bit value is c plus an offset
 *   looked up by its high nibble ('/' shares its high nibble with '+' and
 *   is moved one entry down). Errors are OR-ed across the whole run and
 *   tested once at the end. Packing: a multiply-add of byte pairs
 *   (a * 64 + b) then of word pairs (hi * 4096 + lo) gives 24 bits per
 *   32-bit word; a byte shuffle and a 32-bit lane permute make them 24
 *   contiguous bytes, stored with one 32-byte store (so the loop stops
 *   while 32 bytes of room remain).
 *   Loads never reach past the input: the encoder loads two 16-byte
 *   halves at +0 and +12 and runs while 28 bytes remain; the decoder
 *   never touches the last four characters (the padded quantum). What the
 *   vector loops leave is finished by the scalar code. */
#include "b64.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define B64_X86 1
#include <immintrin.h>
#else
#define B64_X86 0
#endif

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char b64_pair[4096][2];       /* 12 bits -> two characters */
static uint32_t b64_dec[4][256];     /* character -> its 6 bits in place; bit 24+ set if invalid */
static uint16_t b64_dec2[65536];     /* two characters (first in the low byte) -> 12 bits; 0xF000 if invalid */
static int b64_have_avx2;            /* set once by b64_init */
static atomic_int b64_scalar_forced; /* cd_b64_force_scalar */
static pthread_once_t b64_once = PTHREAD_ONCE_INIT;
static atomic_int b64_ready;

static void b64_init(void) {
    for (int i = 0; i < 4096; i++) {
        b64_pair[i][0] = alphabet[i >> 6];
        b64_pair[i][1] = alphabet[i & 63];
    }
    for (int j = 0; j < 4; j++)
        for (int c = 0; c < 256; c++) b64_dec[j][c] = 1u << 24;
    for (uint32_t v = 0; v < 64; v++) {
        unsigned char c = (unsigned char)alphabet[v];
        for (int j = 0; j < 4; j++) b64_dec[j][c] = v << (18 - 6 * j);
    }
    /* Pairs: one lookup gives 12 bits (the used entries are 64 x 64 and
     * stay in L1). */
    for (uint32_t i = 0; i < 65536; i++) {
        uint32_t hi = b64_dec[3][i & 0xFF], lo = b64_dec[3][i >> 8];
        b64_dec2[i] = (hi | lo) >> 24 ? 0xF000 : (uint16_t)((hi << 6) | lo);
    }
#if B64_X86
    __builtin_cpu_init();
    b64_have_avx2 = __builtin_cpu_supports("avx2") != 0;
#endif
    atomic_store_explicit(&b64_ready, 1, memory_order_release);
}

static inline void need_b64(void) {
    if (!atomic_load_explicit(&b64_ready, memory_order_acquire)) pthread_once(&b64_once, b64_init);
}

/* After need_b64: whether this call takes the AVX2 path. */
static inline int use_avx2(void) {
    return b64_have_avx2 && !atomic_load_explicit(&b64_scalar_forced, memory_order_relaxed);
}

void cd_b64_force_scalar(int force) {
    atomic_store_explicit(&b64_scalar_forced, force != 0, memory_order_relaxed);
}

int cd_b64_uses_avx2(void) {
    need_b64();
    return use_avx2();
}

/* ---- scalar ------------------------------------------------------------ */

/* Encode n bytes with the final padded quantum; returns characters written. */
static size_t encode_scalar(const unsigned char *s, size_t n, char *out) {
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3, o += 4) {
        uint32_t x = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        memcpy(o, b64_pair[x >> 12], 2);
        memcpy(o + 2, b64_pair[x & 0xFFF], 2);
    }
    if (n - i == 1) {
        uint32_t x = (uint32_t)s[i] << 16;
        memcpy(o, b64_pair[x >> 12], 2);
        o[2] = o[3] = '=';
        o += 4;
    } else if (n - i == 2) {
        uint32_t x = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        memcpy(o, b64_pair[x >> 12], 2);
        o[2] = b64_pair[x & 0xFFF][0];
        o[3] = '=';
        o += 4;
    }
    return (size_t)(o - out);
}

/* Decode n characters (a multiple of 4, no padding allowed) into
 * n / 4 * 3 bytes at o, writing nothing at or past o + room (room >=
 * n / 4 * 3). Returns nonzero when any character is invalid. */
static int decode_scalar(const unsigned char *s, size_t n, unsigned char *o, size_t room) {
    unsigned char *start = o;
    uint32_t bad = 0;
    size_t i = 0;
    /* Eight characters per 64-bit load, six bytes per 64-bit store (two
     * past the six are overwritten by the next step, so stop 8 short). */
    for (; i + 8 <= n && (size_t)(o - start) + 8 <= room; i += 8, o += 6) {
        uint64_t w;
        memcpy(&w, s + i, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        w = __builtin_bswap64(w);
#endif
        uint32_t a = b64_dec2[w & 0xFFFF], b = b64_dec2[(w >> 16) & 0xFFFF], c = b64_dec2[(w >> 32) & 0xFFFF],
                 d = b64_dec2[w >> 48];
        bad |= a | b | c | d;
        uint64_t x = (uint64_t)(a << 12 | b) << 24 | (c << 12 | d); /* 48 bits, first byte highest */
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        uint64_t be = x << 16;
#else
        uint64_t be = __builtin_bswap64(x << 16); /* in memory order */
#endif
        memcpy(o, &be, 8);
    }
    for (; i < n; i += 4, o += 3) {
        uint32_t a = b64_dec2[s[i] | (uint32_t)s[i + 1] << 8], b = b64_dec2[s[i + 2] | (uint32_t)s[i + 3] << 8];
        bad |= a | b;
        uint32_t x = a << 12 | b;
        o[0] = (unsigned char)(x >> 16);
        o[1] = (unsigned char)(x >> 8);
        o[2] = (unsigned char)x;
    }
    return (bad & 0xF000) != 0;
}

/* ---- AVX2 -------------------------------------------------------------- */

#if B64_X86
/* Encode whole 24-byte blocks while at least 28 bytes remain (the second
 * 16-byte load of a block reads bytes 12..27). Returns the bytes consumed,
 * a multiple of 24; writes 4/3 as many characters. */
__attribute__((target("avx2"))) static size_t encode_avx2(const unsigned char *s, size_t n, char *out) {
    /* per lane: group k (bytes 3k, 3k+1, 3k+2) -> word k = bytes 3k+1, 3k, 3k+2, 3k+1 */
    const __m256i spread = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10,  //
                                            1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10);
    /* In each word (little-endian halves): low half = s0 s1 as s0 << 8 | s1
     * holds field 0 in bits 10-15 and field 1 in bits 4-9; high half =
     * s1 << 8 | s2 holds field 2 in bits 6-11 and field 3 in bits 0-5.
     * Fields 0 and 2 move down by 10 and 6 (high multiply by 2^6, 2^10);
     * fields 1 and 3 move up to bits 8-13 (low multiply by 2^4, 2^8). */
    const __m256i mask02 = _mm256_set1_epi32(0x0FC0FC00), mul02 = _mm256_set1_epi32(0x04000040);
    const __m256i mask13 = _mm256_set1_epi32(0x003F03F0), mul13 = _mm256_set1_epi32(0x01000010);
    /* range index: 0 for 0-25, 1 for 26-51, 2..11 for 52-61, 12 for 62, 13 for 63 */
    const __m256i offsets = _mm256_setr_epi8('A', 'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                             '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 0, 0,  //
                                             'A', 'a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                                             '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 0, 0);
    const __m256i c51 = _mm256_set1_epi8(51), c25 = _mm256_set1_epi8(25);
    size_t i = 0;
    char *o = out;
    for (; i + 28 <= n; i += 24, o += 32) {
        __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(s + i + 12));
        __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
        v = _mm256_shuffle_epi8(v, spread);
        __m256i f02 = _mm256_mulhi_epu16(_mm256_and_si256(v, mask02), mul02);
        __m256i f13 = _mm256_mullo_epi16(_mm256_and_si256(v, mask13), mul13);
        __m256i f = _mm256_or_si256(f02, f13); /* one 6-bit field per byte, in output order */
        __m256i idx = _mm256_subs_epu8(f, c51);
        idx = _mm256_sub_epi8(idx, _mm256_cmpgt_epi8(f, c25)); /* fields are < 64: the signed compare is fine */
        __m256i chars = _mm256_add_epi8(f, _mm256_shuffle_epi8(offsets, idx));
        _mm256_storeu_si256((__m256i *)(void *)o, chars);
    }
    return i;
}

/* Decode 32-character blocks of s[0 .. n) while a block's 24 bytes plus
 * the 8 scratch bytes of its 32-byte store fit in room. Returns the
 * characters consumed (a multiple of 32) and ORs a nonzero value into
 * *bad when any of them is outside the alphabet. */
__attribute__((target("avx2"))) static size_t decode_avx2(const unsigned char *s, size_t n, unsigned char *o,
                                                          size_t room, int *bad) {
    /* Validity by nibbles. Classes of high nibble h, one bit each:
     *   0x01 h = 0, 1, 8..15: nothing valid
     *   0x02 h = 2: only low nibbles B ('+') and F ('/')
     *   0x04 h = 3: only 0..9 ('0'-'9')
     *   0x08 h = 4, 6: all but 0 ('@', '`')
     *   0x10 h = 5, 7: only 0..A ('P'-'Z', 'p'-'z')
     * lo_class[l] = the classes in which low nibble l is invalid. */
    const __m256i hi_class = _mm256_setr_epi8(0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10,  //
                                              0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01,  //
                                              0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x08, 0x10,  //
                                              0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01, 0x01);
    const __m256i lo_class = _mm256_setr_epi8(0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,  //
                                              0x03, 0x03, 0x07, 0x15, 0x17, 0x17, 0x17, 0x15,  //
                                              0x0B, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03, 0x03,  //
                                              0x03, 0x03, 0x07, 0x15, 0x17, 0x17, 0x17, 0x15);
    /* value = c + shift[h], '/' using entry h - 1 = 1 */
    const __m256i shift = _mm256_setr_epi8(0, 63 - '/', 62 - '+', 52 - '0', -'A', -'A', 26 - 'a', 26 - 'a',  //
                                           0, 0, 0, 0, 0, 0, 0, 0,                                          //
                                           0, 63 - '/', 62 - '+', 52 - '0', -'A', -'A', 26 - 'a', 26 - 'a',  //
                                           0, 0, 0, 0, 0, 0, 0, 0);
    const __m256i nib = _mm256_set1_epi8(0x0F), slash = _mm256_set1_epi8('/');
    const __m256i pair6 = _mm256_set1_epi32(0x01400140);  /* bytes a b c d -> words a*64+b, c*64+d */
    const __m256i pair12 = _mm256_set1_epi32(0x00011000); /* words x y -> x*4096+y */
    /* per lane: the 3 low bytes of each 32-bit word, most significant first */
    const __m256i pack = _mm256_setr_epi8(2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1,  //
                                          2, 1, 0, 6, 5, 4, 10, 9, 8, 14, 13, 12, -1, -1, -1, -1);
    const __m256i join = _mm256_setr_epi32(0, 1, 2, 4, 5, 6, 3, 7); /* lane 0's 12 bytes, then lane 1's */
    __m256i err = _mm256_setzero_si256();
    size_t i = 0, w = 0;
    for (; i + 32 <= n && w + 32 <= room; i += 32, w += 24) {
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(s + i));
        __m256i h = _mm256_and_si256(_mm256_srli_epi32(c, 4), nib);
        __m256i l = _mm256_and_si256(c, nib);
        err = _mm256_or_si256(err, _mm256_and_si256(_mm256_shuffle_epi8(lo_class, l), _mm256_shuffle_epi8(hi_class, h)));
        __m256i hs = _mm256_add_epi8(h, _mm256_cmpeq_epi8(c, slash));
        __m256i v = _mm256_add_epi8(c, _mm256_shuffle_epi8(shift, hs));
        v = _mm256_maddubs_epi16(v, pair6);
        v = _mm256_madd_epi16(v, pair12);
        v = _mm256_shuffle_epi8(v, pack);
        v = _mm256_permutevar8x32_epi32(v, join);
        _mm256_storeu_si256((__m256i *)(void *)(o + w), v);
    }
    if (!_mm256_testz_si256(err, err)) *bad = 1;
    return i;
}
#endif

/* ---- entry points ------------------------------------------------------ */

size_t cd_b64_encoded_len(size_t n) {
    return (n + 2) / 3 * 4;
}

size_t cd_b64_encode(const void *in, size_t n, char *out) {
    need_b64();
    const unsigned char *s = in;
    size_t done = 0;
#if B64_X86
    if (use_avx2()) done = encode_avx2(s, n, out);
#endif
    return done / 3 * 4 + encode_scalar(s + done, n - done, out + done / 3 * 4);
}

size_t cd_b64_decoded_len(const char *in, size_t len) {
    if (len == 0 || len % 4) return len / 4 * 3; /* not a valid encoding; decode rejects it */
    size_t pad = in[len - 1] == '=' ? (in[len - 2] == '=' ? 2 : 1) : 0;
    return len / 4 * 3 - pad;
}

int cd_b64_decode(const char *in, size_t len, void *out, size_t cap, size_t *outlen) {
    need_b64();
    *outlen = 0;
    if (len % 4) return -1;
    if (len == 0) return 0;
    size_t need = cd_b64_decoded_len(in, len);
    if (need > cap) return -1;
    const unsigned char *s = (const unsigned char *)in;
    unsigned char *o = out;
    size_t full = len - 4; /* the last quantum may carry padding */
    size_t i = 0;
    int bad = 0;
#if B64_X86
    if (use_avx2()) i = decode_avx2(s, full, o, need, &bad);
#endif
    bad |= decode_scalar(s + i, full - i, o + i / 4 * 3, need - i / 4 * 3);
    if (bad) return -1;
    s += full;
    o += full / 4 * 3;
    size_t pad = need - full / 4 * 3; /* bytes in the last quantum: 1..3 */
    uint32_t x = b64_dec[0][s[0]] | b64_dec[1][s[1]];
    if (pad >= 2) x |= b64_dec[2][s[2]];
    if (pad == 3) x |= b64_dec[3][s[3]];
    /* padding bits must be zero (strict: one encoding per byte string) */
    if (pad == 1 && (x & 0xFFFF)) return -1;
    if (pad == 2 && (x & 0xFF)) return -1;
    if (x >> 24) return -1;
    o[0] = (unsigned char)(x >> 16);
    if (pad >= 2) o[1] = (unsigned char)(x >> 8);
    if (pad == 3) o[2] = (unsigned char)x;
    *outlen = need;
    return 0;
}

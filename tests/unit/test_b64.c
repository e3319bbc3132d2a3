/* test_b64.c -- the base64 codec (api/codec/b64.c) on both of its paths: the
 * AVX2 path (when the CPU has it) and the scalar one, forced with
 * cd_b64_force_scalar. Each path is checked against RFC 4648's vectors,
 * against a bit-by-bit encoder and a one-character-at-a-time decoder
 * written here from the RFC, and against the other path: every length
 * 0..200, long random inputs, every byte outside the alphabet at every
 * position, and the padding rules. Inputs and outputs are heap blocks of
 * exactly the size in play, so a read or write past either end trips
 * ASan. Expected values never come from the code under test. */
#include "testutil.h"

#include "codec/b64.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sanitizers slow these tests: do fewer of the long random cases. */
#if defined(__SANITIZE_ADDRESS__)
#define RANDOM_SCALE 4
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RANDOM_SCALE 4
#endif
#endif
#ifndef RANDOM_SCALE
#define RANDOM_SCALE 1
#endif

static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

/* ---- references --------------------------------------------------------- */

/* An independent encoder: six bits at a time, straight from RFC 4648. */
static size_t naive_encode(const unsigned char *in, size_t n, char *out) {
    size_t o = 0, nbits = n * 8;
    for (size_t bit = 0; bit < nbits; bit += 6) {
        unsigned v = 0;
        for (size_t b = bit; b < bit + 6; b++) {
            unsigned x = b < nbits ? (in[b / 8] >> (7 - b % 8)) & 1 : 0;
            v = v << 1 | x;
        }
        out[o++] = alpha[v];
    }
    while (o % 4) out[o++] = '=';
    return o;
}

/* The value of an alphabet character, or -1. */
static int naive_value(unsigned char c) {
    for (int v = 0; v < 64; v++)
        if ((unsigned char)alpha[v] == c) return v;
    return -1;
}

/* An independent decoder: one character at a time. Text is whole quanta;
 * only the last may end in "=" or "=="; bits under the padding are zero.
 * Returns the byte count (written to out, which has room for len / 4 * 3)
 * or -1. */
static long naive_decode(const char *in, size_t len, unsigned char *out) {
    if (len % 4) return -1;
    size_t pad = 0;
    if (len && in[len - 1] == '=') pad = len >= 2 && in[len - 2] == '=' ? 2 : 1;
    size_t nchar = len - pad, o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < nchar; i++) {
        int v = naive_value((unsigned char)in[i]);
        if (v < 0) return -1;
        acc = (acc << 6 | (unsigned)v) & 0xFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if (acc & ((1u << bits) - 1)) return -1; /* nonzero bits under the padding */
    return (long)o;
}

/* ---- helpers ------------------------------------------------------------ */

static int have_avx2;

static int group_setup(void **state) {
    (void)state;
    cd_b64_force_scalar(0);
    have_avx2 = cd_b64_uses_avx2();
    if (!have_avx2) printf("# test_b64: no AVX2 path on this machine; both passes run the scalar code\n");
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    cd_b64_force_scalar(0);
    return 0;
}

/* Encode n bytes on the chosen path into an exact-size heap block and
 * check it against the naive encoder. */
static void check_encode(const unsigned char *in, size_t n, int scalar) {
    cd_b64_force_scalar(scalar);
    assert_int_equal(cd_b64_uses_avx2(), scalar ? 0 : have_avx2);
    unsigned char *copy = xmalloc(n);
    if (n) memcpy(copy, in, n);
    size_t m = cd_b64_encoded_len(n);
    char *enc = xmalloc(m), *ref = xmalloc(m + 4);
    assert_int_equal(naive_encode(in, n, ref), m);
    assert_int_equal(cd_b64_encode(copy, n, enc), m);
    if (memcmp(enc, ref, m) != 0) fail_msg("encode of %zu bytes (%s path) differs from the reference", n, scalar ? "scalar" : "AVX2");
    free(copy);
    free(enc);
    free(ref);
    cd_b64_force_scalar(0);
}

/* Decode text on the chosen path from an exact-size heap copy into an
 * exact-size heap block; returns the byte count or -1, and checks it and
 * the bytes against the naive decoder. */
static long check_decode(const char *text, size_t len, int scalar) {
    cd_b64_force_scalar(scalar);
    char *copy = xmalloc(len);
    if (len) memcpy(copy, text, len);
    unsigned char *ref = xmalloc(len / 4 * 3);
    long want = naive_decode(text, len, ref);
    size_t cap = want >= 0 ? (size_t)want : cd_b64_decoded_len(copy, len);
    unsigned char *out = xmalloc(cap);
    size_t outlen = 99;
    int rc = cd_b64_decode(copy, len, out, cap, &outlen);
    if ((rc == 0) != (want >= 0))
        fail_msg("decode of %zu characters (%s path): rc %d, reference %ld", len, scalar ? "scalar" : "AVX2", rc, want);
    if (rc == 0) {
        assert_int_equal(outlen, (size_t)want);
        assert_int_equal(cd_b64_decoded_len(copy, len), (size_t)want);
        if (want && memcmp(out, ref, (size_t)want) != 0)
            fail_msg("decode of %zu characters (%s path) differs from the reference", len, scalar ? "scalar" : "AVX2");
        if (want) { /* one byte short of room: refused, and nothing written */
            memset(out, 0xA5, cap);
            assert_int_equal(cd_b64_decode(copy, len, out, (size_t)want - 1, &outlen), -1);
            assert_int_equal(outlen, 0);
            for (size_t i = 0; i < cap; i++) assert_int_equal(out[i], 0xA5);
        }
    } else {
        assert_int_equal(outlen, 0);
    }
    free(copy);
    free(ref);
    free(out);
    cd_b64_force_scalar(0);
    return rc == 0 ? want : -1;
}

/* Encode then decode on both paths; everything must agree. */
static void check_bytes(const unsigned char *in, size_t n) {
    check_encode(in, n, 0);
    check_encode(in, n, 1);
    size_t m = cd_b64_encoded_len(n);
    char *enc = xmalloc(m);
    naive_encode(in, n, enc);
    assert_int_equal(check_decode(enc, m, 0), (long)n);
    assert_int_equal(check_decode(enc, m, 1), (long)n);
    free(enc);
}

static void fill_random(unsigned char *p, size_t n, int kind) {
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)(kind == 0 ? 0xFF : kind == 1 ? 0 : tu_rand64());
}

/* ---- tests -------------------------------------------------------------- */

static void test_reference_self_check(void **state) {
    (void)state;
    /* the references against each other and RFC 4648 section 10 */
    static const char *rfc[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
                                   {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    char enc[16];
    unsigned char dec[16];
    for (size_t i = 0; i < sizeof rfc / sizeof *rfc; i++) {
        size_t n = strlen(rfc[i][0]), m = strlen(rfc[i][1]);
        assert_int_equal(naive_encode((const unsigned char *)rfc[i][0], n, enc), m);
        assert_memory_equal(enc, rfc[i][1], m);
        assert_int_equal(naive_decode(rfc[i][1], m, dec), (long)n);
        if (n) assert_memory_equal(dec, rfc[i][0], n);
    }
    assert_int_equal(naive_decode("Zh==", 4, dec), -1);
    assert_int_equal(naive_decode("Zm9=", 4, dec), -1);
    assert_int_equal(naive_decode("Zg=a", 4, dec), -1);
    assert_int_equal(naive_decode("Zm8=Zm8=", 8, dec), -1);
}

static void test_vectors(void **state) {
    (void)state;
    static const char *rfc[][2] = {{"", ""},         {"f", "Zg=="},         {"fo", "Zm8="},        {"foo", "Zm9v"},
                                   {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
    for (int scalar = 0; scalar < 2; scalar++) {
        cd_b64_force_scalar(scalar);
        char enc[64];
        unsigned char dec[64];
        for (size_t i = 0; i < sizeof rfc / sizeof *rfc; i++) {
            size_t n = strlen(rfc[i][0]), m = strlen(rfc[i][1]), outlen = 99;
            assert_int_equal(cd_b64_encoded_len(n), m);
            assert_int_equal(cd_b64_encode(rfc[i][0], n, enc), m);
            assert_memory_equal(enc, rfc[i][1], m);
            assert_int_equal(cd_b64_decoded_len(rfc[i][1], m), n);
            assert_int_equal(cd_b64_decode(rfc[i][1], m, dec, n, &outlen), 0);
            assert_int_equal(outlen, n);
            if (n) assert_memory_equal(dec, rfc[i][0], n);
        }
    }
    cd_b64_force_scalar(0);
    /* all 64 characters in order, across a whole vector */
    unsigned char all[48];
    for (int i = 0; i < 48; i++) all[i] = 0;
    for (int v = 0; v < 64; v++) /* 6-bit value v at bit 6v */
        for (int b = 0; b < 6; b++)
            if (v >> (5 - b) & 1) all[(6 * v + b) / 8] |= (unsigned char)(0x80 >> ((6 * v + b) % 8));
    char enc[64];
    for (int scalar = 0; scalar < 2; scalar++) {
        cd_b64_force_scalar(scalar);
        assert_int_equal(cd_b64_encode(all, 48, enc), 64);
        assert_memory_equal(enc, alpha, 64);
    }
    cd_b64_force_scalar(0);
    check_bytes(all, 48);
}

static void test_every_length(void **state) {
    (void)state;
    unsigned char in[200];
    for (size_t n = 0; n <= 200; n++)
        for (int kind = 0; kind < 6; kind++) {
            fill_random(in, n, kind);
            check_bytes(in, n);
        }
}

static void test_long_random(void **state) {
    (void)state;
    for (int rep = 0; rep < 40 / RANDOM_SCALE; rep++) {
        size_t n = rep < 3 ? (size_t)1 << (16 + rep) : (size_t)(tu_rand64() % 200000);
        unsigned char *in = xmalloc(n);
        fill_random(in, n, 2);
        check_bytes(in, n);
        free(in);
    }
}

/* Random text of every length 0..200 (characters mostly from the
 * alphabet, sometimes '=' or other bytes): both paths agree with the
 * reference decoder on accept/reject and on the bytes. */
static void test_decode_random_text(void **state) {
    (void)state;
    char text[200];
    int accepted = 0, rejected = 0;
    for (size_t len = 0; len <= 200; len++)
        for (int rep = 0; rep < 40; rep++) {
            for (size_t i = 0; i < len; i++) text[i] = alpha[tu_rand64() % 64];
            /* half plain, then: "=" or "==" at the end (the bits under it
             * random), one random byte or one '=' anywhere */
            if (rep % 8 == 4 && len >= 2) text[len - 1] = '=';
            if (rep % 8 == 5 && len >= 2) text[len - 1] = text[len - 2] = '=';
            if (rep % 8 == 6 && len) text[tu_rand64() % len] = (char)tu_rand64();
            if (rep % 8 == 7 && len) text[tu_rand64() % len] = '=';
            long a = check_decode(text, len, 0), b = check_decode(text, len, 1);
            assert_int_equal(a, b);
            if (a >= 0) accepted++;
            else rejected++;
        }
    assert_true(accepted > 1000);
    assert_true(rejected > 1000);
}

/* Every byte that is not in the alphabet, at every position of a valid
 * 100-character text (the vector loop, the scalar loops and the padded
 * quantum each see some positions), is rejected by both paths; '=' only
 * where it is not valid padding. */
static void test_invalid_everywhere(void **state) {
    (void)state;
    enum { N = 75, M = 100 };
    unsigned char in[N];
    fill_random(in, N, 2);
    char base[M], *text = xmalloc(M);
    naive_encode(in, N, base);
    unsigned char *out = xmalloc(N);
    int is_alpha[256] = {0};
    for (int v = 0; v < 64; v++) is_alpha[(unsigned char)alpha[v]] = 1;
    for (int scalar = 0; scalar < 2; scalar++) {
        cd_b64_force_scalar(scalar);
        for (int pos = 0; pos < M; pos++)
            for (int c = 0; c < 256; c++) {
                if (is_alpha[c]) continue;
                memcpy(text, base, M);
                text[pos] = (char)c;
                size_t outlen = 99;
                int rc = cd_b64_decode(text, M, out, N, &outlen);
                int want = c == '=' && pos >= M - 2 ? (naive_decode(text, M, (unsigned char[N]){0}) >= 0 ? 0 : -1) : -1;
                if (rc != want)
                    fail_msg("byte 0x%02X at %d (%s path): rc %d, want %d", c, pos, scalar ? "scalar" : "AVX2", rc, want);
                if (rc < 0) assert_int_equal(outlen, 0);
            }
    }
    cd_b64_force_scalar(0);
    /* the same for a long text, at positions spread over many vectors */
    size_t n = 3000, m = cd_b64_encoded_len(n);
    unsigned char *big = xmalloc(n), *bigout = xmalloc(n);
    char *btext = xmalloc(m), *bbase = xmalloc(m);
    fill_random(big, n, 2);
    naive_encode(big, n, bbase);
    for (int scalar = 0; scalar < 2; scalar++) {
        cd_b64_force_scalar(scalar);
        for (size_t pos = 0; pos < m - 4; pos += 1 + pos % 7) {
            int c = (int)(tu_rand64() % 256);
            if (is_alpha[c]) continue;
            memcpy(btext, bbase, m);
            btext[pos] = (char)c;
            size_t outlen = 99;
            assert_int_equal(cd_b64_decode(btext, m, bigout, n, &outlen), -1);
        }
    }
    cd_b64_force_scalar(0);
    free(big);
    free(bigout);
    free(btext);
    free(bbase);
    free(text);
    free(out);
}

static void test_padding(void **state) {
    (void)state;
    static const char *bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg",       /* unpadded */
        "Zm9vY",    /* unpadded */
        "Zg=a",     /* data after padding */
        "Z===",     /* too much padding */
        "====",     /* padding only */
        "=Zm9",     /* padding first */
        "Zm8=Zm8=", /* padding in the middle */
        "Zh==",     /* nonzero bits under the padding */
        "Zm9=",     /* nonzero bits under the padding */
        "Zm9v!A==", /* not in the alphabet */
        "Zm9v\nYg==", "Zm 9", "Zm9-", "Zm9_", "Zm\xC3\xA9",
    };
    unsigned char out[128];
    for (int scalar = 0; scalar < 2; scalar++) {
        cd_b64_force_scalar(scalar);
        for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
            size_t outlen = 99;
            if (cd_b64_decode(bad[i], strlen(bad[i]), out, sizeof out, &outlen) != -1) fail_msg("'%s' decoded", bad[i]);
            assert_int_equal(outlen, 0);
        }
        size_t outlen = 99;
        assert_int_equal(cd_b64_decode("Zm\0v", 4, out, sizeof out, &outlen), -1);
        /* every 2-character quantum with "==": valid iff its low 4 bits are
         * 0; every 3-character one with "=": iff its low 2 bits are; after
         * a long prefix too, so the vector loop runs first */
        char q[80];
        /* '=' inside what the vector loop reads; "===" at the end */
        for (int i = 0; i < 80; i++) q[i] = "Zm9vYmFy"[i % 8];
        q[37] = '=';
        assert_int_equal(cd_b64_decode(q, 80, out, sizeof out, &outlen), -1);
        q[37] = 'Z';
        assert_int_equal(cd_b64_decode(q, 80, out, sizeof out, &outlen), 0);
        q[77] = q[78] = q[79] = '=';
        assert_int_equal(cd_b64_decode(q, 80, out, sizeof out, &outlen), -1);
        for (int pre = 0; pre <= 64; pre += 64)
            for (int a = 0; a < 64; a++)
                for (int b = 0; b < 64; b++) {
                    char *t = q + pre;
                    for (int i = 0; i < pre; i++) q[i] = "Zm9vYmFy"[i % 8];
                    t[0] = alpha[a], t[1] = alpha[b], t[2] = '=', t[3] = '=';
                    int rc = cd_b64_decode(q, (size_t)pre + 4, out, sizeof out, &outlen);
                    assert_int_equal(rc, (b & 15) ? -1 : 0);
                    if (rc == 0) {
                        assert_int_equal(outlen, pre / 4 * 3 + 1);
                        assert_int_equal(out[pre / 4 * 3], a << 2 | b >> 4);
                    }
                    int c = (a * 7 + b) % 64;
                    t[2] = alpha[c];
                    t[3] = '=';
                    rc = cd_b64_decode(q, (size_t)pre + 4, out, sizeof out, &outlen);
                    assert_int_equal(rc, (c & 3) ? -1 : 0);
                    if (rc == 0) {
                        assert_int_equal(outlen, pre / 4 * 3 + 2);
                        assert_int_equal(out[pre / 4 * 3], a << 2 | b >> 4);
                        assert_int_equal(out[pre / 4 * 3 + 1], (b & 15) << 4 | c >> 2);
                    }
                }
        outlen = 99;
        assert_int_equal(cd_b64_decode("", 0, out, 0, &outlen), 0);
        assert_int_equal(outlen, 0);
    }
    cd_b64_force_scalar(0);
    /* decoded_len: sizes only, reads just the last two characters */
    assert_int_equal(cd_b64_decoded_len("", 0), 0);
    assert_int_equal(cd_b64_decoded_len("Zg==", 4), 1);
    assert_int_equal(cd_b64_decoded_len("Zm8=", 4), 2);
    assert_int_equal(cd_b64_decoded_len("Zm9v", 4), 3);
    assert_int_equal(cd_b64_decoded_len("Zm9vY", 5), 3);
    assert_int_equal(cd_b64_decoded_len("Zm9vYmFy", 8), 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_self_check),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_every_length),
        cmocka_unit_test(test_long_random),
        cmocka_unit_test(test_decode_random_text),
        cmocka_unit_test(test_invalid_everywhere),
        cmocka_unit_test(test_padding),
    };
    return cmocka_run_group_tests_name("b64", tests, group_setup, group_teardown);
}

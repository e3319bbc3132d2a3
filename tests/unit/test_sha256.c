/* test_sha256.c -- SHA-256 (api/codec/sha256.c) against the example
 * vectors of NIST's FIPS 180-2 appendix B and the Cryptographic Algorithm
 * Validation Program (empty message, "abc", the two-block messages, a
 * million 'a'), fed whole and in pieces of every size 1..130, so every
 * split across the 64-byte block boundary and the padding's edge cases
 * (55, 56, 63, 64 bytes left) are taken. */
#include "testutil.h"

#include "codec/sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct vector {
    const char *msg; /* NULL: a million 'a' */
    const char *hex;
} vector;

static const vector vectors[] = {
    {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
     "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    {NULL, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
};

static void hex_of(const uint8_t d[32], char out[65]) {
    for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void test_nist_vectors_whole(void **state) {
    (void)state;
    for (size_t v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
        size_t n = vectors[v].msg ? strlen(vectors[v].msg) : 1000000;
        char *m = malloc(n + 1);
        assert_non_null(m);
        if (vectors[v].msg) memcpy(m, vectors[v].msg, n);
        else memset(m, 'a', n);
        char hex[65];
        cd_sha256_hex(m, n, hex);
        assert_string_equal(hex, vectors[v].hex);
        free(m);
    }
}

static void test_nist_vectors_in_pieces(void **state) {
    (void)state;
    for (size_t v = 0; v + 1 < sizeof vectors / sizeof vectors[0]; v++) {
        const char *m = vectors[v].msg;
        size_t n = strlen(m);
        for (size_t piece = 1; piece <= 130; piece++) {
            cd_sha256 s;
            cd_sha256_init(&s);
            for (size_t at = 0; at < n; at += piece) cd_sha256_update(&s, m + at, n - at < piece ? n - at : piece);
            uint8_t d[32];
            char hex[65];
            cd_sha256_final(&s, d);
            hex_of(d, hex);
            assert_string_equal(hex, vectors[v].hex);
        }
    }
    /* a million 'a' in pieces of 1000: the padding after a full block */
    cd_sha256 s;
    cd_sha256_init(&s);
    char a[1000];
    memset(a, 'a', sizeof a);
    for (int i = 0; i < 1000; i++) cd_sha256_update(&s, a, sizeof a);
    uint8_t d[32];
    char hex[65];
    cd_sha256_final(&s, d);
    hex_of(d, hex);
    assert_string_equal(hex, vectors[4].hex);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nist_vectors_whole),
        cmocka_unit_test(test_nist_vectors_in_pieces),
    };
    return cmocka_run_group_tests_name("sha256", tests, NULL, NULL);
}

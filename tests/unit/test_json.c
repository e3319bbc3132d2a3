/* test_json.c -- the reader's indexed numeric-array scanner
 * (api/codec/json_nums.c) against its number-at-a-time loop: every document is
 * read with the index off (CD_JSON_NUMS_OFF), with the scalar index and
 * with the AVX2 index (when the CPU has it), and the three readings must
 * be the same: the same tree, the same packed arrays (shapes and every
 * double bit for bit), or the same error (kind, place, path, message).
 * Random arrays of random shapes, number forms, whitespace and junk;
 * every truncation of a small array; every byte value in a run. Each
 * text is parsed from a buffer of exactly its length, so that the
 * sanitizer build catches any read past the end. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/json.h"
#include "codec/json_nums.h"
#include "testutil.h"

/* ---- a growing string ------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t len, cap;
} sbuf;

/* Append n bytes of s to b. */
static void put(sbuf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* ---- a canonical dump of a reading ------------------------------------ */

/* Dump value v of doc d into b: objects with sorted keys, reals as their
 * bits, packed arrays as their shape and their doubles' bits. */
static void dump(sbuf *b, const cd_doc *d, const json_t *v) {
    char tmp[64];
    const cd_packed *pk = cd_doc_packed(d, v);
    if (pk) {
        snprintf(tmp, sizeof tmp, "P%d[", pk->rank);
        puts_(b, tmp);
        for (int i = 0; i < pk->rank; i++) {
            snprintf(tmp, sizeof tmp, "%lld,", (long long)pk->dims[i]);
            puts_(b, tmp);
        }
        puts_(b, "]{");
        for (int64_t i = 0; i < pk->n; i++) {
            uint64_t bits;
            memcpy(&bits, &pk->data[i], sizeof bits);
            snprintf(tmp, sizeof tmp, "%llx,", (unsigned long long)bits);
            puts_(b, tmp);
        }
        puts_(b, "}");
        return;
    }
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys = malloc((n + 1) * sizeof *keys);
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) keys[i++] = k;
        for (size_t a = 0; a < n; a++) /* sort the keys */
            for (size_t c = a + 1; c < n; c++)
                if (strcmp(keys[c], keys[a]) < 0) {
                    const char *t = keys[a];
                    keys[a] = keys[c];
                    keys[c] = t;
                }
        puts_(b, "{");
        for (i = 0; i < n; i++) {
            puts_(b, keys[i]);
            puts_(b, ":");
            dump(b, d, json_object_get(v, keys[i]));
            puts_(b, ",");
        }
        puts_(b, "}");
        free(keys);
        return;
    }
    case JSON_ARRAY:
        puts_(b, "[");
        for (size_t i = 0; i < json_array_size(v); i++) {
            dump(b, d, json_array_get(v, i));
            puts_(b, ",");
        }
        puts_(b, "]");
        return;
    case JSON_STRING: {
        size_t len;
        const char *t = cd_doc_text(d, v, &len);
        puts_(b, "\"");
        put(b, t, len);
        puts_(b, "\"");
        return;
    }
    case JSON_INTEGER:
        snprintf(tmp, sizeof tmp, "I%lld", (long long)json_integer_value(v));
        puts_(b, tmp);
        return;
    case JSON_REAL: {
        double x = json_real_value(v);
        uint64_t bits;
        memcpy(&bits, &x, sizeof bits);
        snprintf(tmp, sizeof tmp, "R%llx", (unsigned long long)bits);
        puts_(b, tmp);
        return;
    }
    case JSON_TRUE: puts_(b, "true"); return;
    case JSON_FALSE: puts_(b, "false"); return;
    case JSON_NULL: puts_(b, "null"); return;
    }
}

/* Parse text[0..len) (copied into a buffer of exactly len bytes) with the
 * scanner in mode; the reading's dump (caller frees). */
static char *reading(const char *text, size_t len, int mode) {
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    cd_json_nums_set_mode(mode);
    cd_doc d;
    cd_err e;
    cd_json_opts o = {.max_depth = 32};
    int r = cd_json_parse(copy, len, &o, &d, &e);
    cd_json_nums_set_mode(CD_JSON_NUMS_AUTO);
    sbuf b = {0};
    puts_(&b, "");
    if (r < 0) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "E%s|%zu|%ld|%ld|%s|%s", cd_err_kind_name(e.kind), e.offset, e.line, e.column, e.path,
                 e.message);
        puts_(&b, tmp);
    } else {
        dump(&b, &d, d.root);
        char tmp[64];
        snprintf(tmp, sizeof tmp, "|packed %d", d.npacked);
        puts_(&b, tmp);
        cd_doc_free(&d);
    }
    free(copy);
    return b.p;
}

static long n_packed, n_docs; /* how many readings packed something (the tests must reach the index) */

/* Read text[0..len) all three ways and require the same reading. */
static void same_all_ways(const char *text, size_t len) {
    char *off = reading(text, len, CD_JSON_NUMS_OFF);
    char *scalar = reading(text, len, CD_JSON_NUMS_SCALAR);
    if (strcmp(off, scalar)) fail_msg("scalar index differs on %.*s\n off: %.300s\n got: %.300s", (int)len, text, off, scalar);
    if (cd_json_nums_have_avx2()) {
        char *avx = reading(text, len, CD_JSON_NUMS_AUTO);
        if (strcmp(off, avx)) fail_msg("AVX2 index differs on %.*s\n off: %.300s\n got: %.300s", (int)len, text, off, avx);
        free(avx);
    }
    n_docs++;
    if (!strstr(off, "|packed 0") && off[0] != 'E') n_packed++;
    free(off);
    free(scalar);
}

/* ---- random documents ------------------------------------------------- */

static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int below(int n) { return (int)(rnd() % (uint64_t)n); }

/* A run of n random digits. */
static void digits(sbuf *b, int n, int nonzero_first) {
    for (int i = 0; i < n; i++) {
        char c = (char)('0' + below(10));
        if (i == 0 && nonzero_first) c = (char)('1' + below(9));
        put(b, &c, 1);
    }
}

/* One number, mostly valid, in the forms bias picks more often. */
static void number(sbuf *b, int bias) {
    int form = below(100) < 70 ? bias : below(14);
    if (below(3) == 0) puts_(b, "-");
    switch (form) {
    case 0: puts_(b, "0."); digits(b, 1 + below(7), 0); break;               /* short decimal */
    case 1: digits(b, 1 + below(7), 1); puts_(b, "."); digits(b, 1 + below(7), 0); break;
    case 2: digits(b, 1 + below(8), 1); break;                                /* integer */
    case 3: puts_(b, "0"); break;                                             /* zero, -0 */
    case 4: digits(b, 1 + below(3), 1); puts_(b, below(2) ? "e" : "E"); puts_(b, below(2) ? "-" : below(2) ? "+" : "");
        digits(b, 1 + below(3), 0); break;                                    /* exponent */
    case 5: digits(b, 9 + below(30), 1); puts_(b, "."); digits(b, 1 + below(30), 0); break; /* long */
    case 6: puts_(b, "0"); digits(b, 1 + below(3), 0); break;                 /* leading zero: error */
    case 7: puts_(b, "0."); digits(b, 8 + below(12), 0); break;               /* long fraction */
    case 8: digits(b, 1 + below(3), 1); puts_(b, "."); break;                 /* 1. : error */
    case 9: puts_(b, "."); digits(b, 1 + below(3), 0); break;                 /* .5 : error */
    case 10: puts_(b, below(2) ? "+1" : "1e"); break;                         /* errors */
    case 11: puts_(b, "1e400"); break;                                        /* range error */
    case 12: digits(b, 1, 1); puts_(b, ".5.5"); break;                         /* two dots */
    default: puts_(b, "0.0"); digits(b, below(3), 0); break;
    }
}

static void ws(sbuf *b, int dense) {
    static const char *const w[] = {" ", "\n", "\r\n", "\t", "  ", " \t "};
    if (below(dense) == 0) puts_(b, w[below(6)]);
}

/* A random array: rank 1..4, dims around sizes that cross 64-byte blocks
 * (shape[i] dims), sometimes ragged, sometimes with a string inside. */
static void array(sbuf *b, int depth, int rank, const int *shape, int bias, int dense, int junk) {
    puts_(b, "[");
    ws(b, dense);
    int n = shape[depth];
    if (junk && below(200) == 0) n += below(2) ? 1 : -1; /* ragged */
    for (int i = 0; i < n; i++) {
        if (i) {
            ws(b, dense);
            puts_(b, ",");
            ws(b, dense);
        }
        if (depth + 1 < rank) array(b, depth + 1, rank, shape, bias, dense, junk);
        else if (junk && below(400) == 0) puts_(b, below(2) ? "\"s,]\"" : below(2) ? "[1]" : "{}");
        else if (junk && below(600) == 0) { char c = (char)below(256); put(b, &c, 1); }
        else number(b, bias);
    }
    ws(b, dense);
    puts_(b, "]");
}

static void test_random_arrays(void **state) {
    (void)state;
    for (int iter = 0; iter < 1500; iter++) {
        sbuf b = {0};
        puts_(&b, "{\"pad\":\"");
        for (int i = below(64); i > 0; i--) puts_(&b, "x"); /* shift the array against 64-byte blocks */
        puts_(&b, "\",\"x\":");
        int rank = 1 + below(4), shape[4];
        for (int i = 0; i < 4; i++) shape[i] = rank == 1 ? below(300) : 1 + below(rank == 2 ? 40 : 8);
        int bias = below(4) ? below(4) : below(14);
        int dense = below(2) ? 1000000 : 1 + below(8); /* no whitespace, or some */
        array(&b, 0, rank, shape, bias, dense, below(3) == 0);
        if (below(4) == 0) { /* a second array and a trailing value */
            puts_(&b, ",\"y\":");
            array(&b, 0, 1, (int[]){64 + below(100)}, bias, dense, 0);
        }
        puts_(&b, "}");
        same_all_ways(b.p, b.len);
        free(b.p);
    }
    assert_true(n_packed > 200); /* the fast path was taken, often */
}

/* Every prefix of a small packed array (and of one with whitespace):
 * each is an error, the same error, with no read past the end. */
static void test_truncated(void **state) {
    (void)state;
    for (int pass = 0; pass < 3; pass++) {
        sbuf b = {0};
        puts_(&b, "{\"x\":");
        int shape[2] = {9, 8};
        array(&b, 0, 2, shape, pass, pass == 1 ? 3 : 1000000, 0);
        puts_(&b, "}");
        for (size_t i = 0; i <= b.len; i++) same_all_ways(b.p, i);
        free(b.p);
    }
}

/* Each byte value at each place in a run of numbers (inside a number,
 * before and after commas): classes must agree with the loop's grammar. */
static void test_every_byte(void **state) {
    (void)state;
    const char *base = "[0.125,-3,4.5,0,17,0.0625,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,"
                       "26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,"
                       "57,58,59,60,61,62,63]";
    size_t len = strlen(base);
    char *t = malloc(len + 1);
    for (int c = 0; c < 256; c++) {
        for (size_t at = 1; at < 40; at++) {
            memcpy(t, base, len); /* replace the byte at `at` */
            t[at] = (char)c;
            same_all_ways(t, len);
            memcpy(t, base, at); /* insert before `at` */
            t[at] = (char)c;
            memcpy(t + at + 1, base + at, len - at);
            same_all_ways(t, len + 1);
        }
    }
    free(t);
}

/* Hand-picked runs: the forms of every case of cd_num_span8_parts and
 * the index's edges (block ends, long tokens, whitespace runs). */
static void test_cases(void **state) {
    (void)state;
    static const char *const items[] = {
        "0", "-0", "0.0", "-0.0", "1", "12345678", "-12345678", "123456789", "0.1234567", "-0.1234567",
        "1.234567", "12.34", "1234567.8", "0.00000001", "9007199254740993", "1e5", "1E-5", "-1e+5", "00", "01",
        "-01", "0.", "-", "--1", "+1", ".5", "1..2", "1.2.3", "1e", "1e+", "0x1", "1.5e3.2", "1-2", "1+2",
        "123456789012345678901234567890", "0.30000000000000004", "1e-400", "-1e400", "4.9e-324", "2.2250738585072014e-308",
    };
    int n = (int)(sizeof items / sizeof items[0]);
    for (int i = 0; i < n; i++) {
        for (int variant = 0; variant < 6; variant++) {
            sbuf b = {0};
            puts_(&b, "[");
            for (int k = 0; k < 80; k++) {
                if (k) puts_(&b, variant == 1 ? " , " : variant == 2 ? ",\n" : ",");
                if (variant == 3 && k == 0) puts_(&b, "   \t\n");
                /* the item at several places: first, last, at block ends */
                puts_(&b, (k == 0 || k == 79 || k % 13 == variant) ? items[i] : "0.5");
            }
            if (variant == 4) puts_(&b, "                                                                     ");
            puts_(&b, variant == 5 ? ",]" : "]");
            same_all_ways(b.p, b.len);
            free(b.p);
        }
    }
    /* one token longer than a block, spanning three */
    sbuf b = {0};
    puts_(&b, "[");
    for (int k = 0; k < 70; k++) {
        if (k) puts_(&b, ",");
        if (k == 5) {
            puts_(&b, "1");
            for (int j = 0; j < 150; j++) puts_(&b, "0");
            puts_(&b, ".5");
        } else puts_(&b, "2.5");
    }
    puts_(&b, "]");
    same_all_ways(b.p, b.len);
    b.p[b.len - 1] = ' '; /* and without its ']' */
    same_all_ways(b.p, b.len);
    free(b.p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_every_byte),
        cmocka_unit_test(test_random_arrays),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}

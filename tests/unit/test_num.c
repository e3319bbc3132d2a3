/* test_num.c -- the number codec against the C library and the RFCs:
 * cd_num_parse must give strtod's double bit for bit (tables of edge
 * cases, random decimal strings, near-halfway strings from long double);
 * cd_num_print_* must read back exactly with the fewest digits, checked
 * against a slow reference built on glibc's exact "%.*e" (base64 is in
 * test_b64.c). Expected values never come from the code under test. */
#include "testutil.h"

#include "codec/num.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sanitizers slow these tests about twofold: do half the random cases. */
#if defined(__SANITIZE_ADDRESS__)
#define RANDOM_SCALE 2
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RANDOM_SCALE 2
#endif
#endif
#ifndef RANDOM_SCALE
#define RANDOM_SCALE 1
#endif

/* ---- helpers --------------------------------------------------------- */

static uint64_t bits_of(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static uint32_t bits_of_f(float v) {
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static double from_bits(uint64_t b) {
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

static float from_bits_f(uint32_t b) {
    float v;
    memcpy(&v, &b, sizeof v);
    return v;
}

/* A random finite double (uniform over bit patterns). */
static double rnd_double(void) {
    for (;;) {
        uint64_t b = tu_rand64();
        if (((b >> 52) & 0x7FF) != 0x7FF) return from_bits(b);
    }
}

static float rnd_float(void) {
    for (;;) {
        uint32_t b = (uint32_t)(tu_rand64() >> 32);
        if (((b >> 23) & 0xFF) != 0xFF) return from_bits_f(b);
    }
}

/* Parse s[0..len) from a heap copy of exactly len bytes (no terminator),
 * so reading past the end trips ASan. */
static cd_num_status parse_exact(const char *s, size_t len, double *out, size_t *used) {
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, s, len);
    const char *next = NULL;
    *out = 12345.0;
    cd_num_status st = cd_num_parse(copy, copy + len, out, &next);
    if (used) *used = st == CD_NUM_OK ? (size_t)((uintptr_t)next - (uintptr_t)copy) : 0;
    free(copy);
    return st;
}

/* Compare cd_num_parse with strtod on a NUL-terminated JSON number. */
static void parse_like_strtod(const char *s) {
    double want = strtod(s, NULL), got;
    size_t used;
    cd_num_status st = parse_exact(s, strlen(s), &got, &used);
    if (isinf(want)) {
        if (st != CD_NUM_RANGE) fail_msg("'%s': status %d, want RANGE", s, (int)st);
        return;
    }
    if (st != CD_NUM_OK) fail_msg("'%s': status %d, want OK", s, (int)st);
    if (used != strlen(s)) fail_msg("'%s': used %zu of %zu characters", s, used, strlen(s));
    if (bits_of(got) != bits_of(want)) fail_msg("'%s': got %.17g (%a), strtod %.17g (%a)", s, got, got, want, want);
}

/* ---- first use from several threads ------------------------------------- */

/* Each thread prints and parses values that need the power-of-five table
 * (built at first use) and records whether all came out right. */
static void *first_use_worker(void *arg) {
    static const char *texts[] = {"1.7976931348623157e+308", "5e-324", "0.30000000000000004", "1e+23"};
    static const double values[] = {DBL_MAX, 0x1p-1074, 0.30000000000000004, 1e23};
    int *ok = arg;
    *ok = 1;
    for (int rep = 0; rep < 200; rep++)
        for (int i = 0; i < 4; i++) {
            char buf[CD_NUM_MAX];
            double got;
            const char *next;
            int n = cd_num_print_f64(values[i], buf);
            if (n != (int)strlen(texts[i]) || memcmp(buf, texts[i], (size_t)n) != 0) *ok = 0;
            cd_num_status st = cd_num_parse(texts[i], texts[i] + strlen(texts[i]), &got, &next);
            if (st != CD_NUM_OK || got != values[i]) *ok = 0;
        }
    return NULL;
}

/* Runs first, so the threads race to build the tables. */
static void test_first_use_threads(void **state) {
    (void)state;
    pthread_t th[4];
    int ok[4];
    for (int i = 0; i < 4; i++) assert_int_equal(pthread_create(&th[i], NULL, first_use_worker, &ok[i]), 0);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(ok[i]);
    }
}

/* ---- parse: tables ---------------------------------------------------- */

typedef struct parse_case {
    const char *in;
    cd_num_status st;
    double want; /* for CD_NUM_OK; compared bit for bit (so -0.0 counts) */
    size_t used; /* characters consumed on OK; 0 means all */
} parse_case;

static const parse_case parse_cases[] = {
    {"0", CD_NUM_OK, 0.0, 0},
    {"-0", CD_NUM_OK, -0.0, 0},
    {"-0.0e5", CD_NUM_OK, -0.0, 0},
    {"0.0", CD_NUM_OK, 0.0, 0},
    {"1", CD_NUM_OK, 1.0, 0},
    {"7", CD_NUM_OK, 7.0, 0},
    {"-2", CD_NUM_OK, -2.0, 0},
    {"0.1", CD_NUM_OK, 0.1, 0},
    {"0.048123", CD_NUM_OK, 0.048123, 0},
    {"-0.0123", CD_NUM_OK, -0.0123, 0},
    {"0.1234", CD_NUM_OK, 0.1234, 0},
    {"1e-5", CD_NUM_OK, 1e-5, 0},
    {"1E5", CD_NUM_OK, 1e5, 0},
    {"1e+5", CD_NUM_OK, 1e5, 0},
    {"123456.789", CD_NUM_OK, 123456.789, 0},
    {"-2.5e-3", CD_NUM_OK, -2.5e-3, 0},
    {"0.30000000000000004", CD_NUM_OK, 0.30000000000000004, 0},
    {"0.10000000000000001", CD_NUM_OK, 0.1, 0},
    {"3.141592653589793", CD_NUM_OK, 3.141592653589793, 0},
    {"1e22", CD_NUM_OK, 1e22, 0},
    {"1e23", CD_NUM_OK, 1e23, 0},
    {"1e-22", CD_NUM_OK, 1e-22, 0},
    {"1e-23", CD_NUM_OK, 1e-23, 0},
    {"9007199254740992", CD_NUM_OK, 9007199254740992.0, 0},
    {"9007199254740993", CD_NUM_OK, 9007199254740992.0, 0}, /* halfway: to even */
    {"9007199254740995", CD_NUM_OK, 9007199254740996.0, 0}, /* halfway: to even */
    {"9007199254740993.0000000000000001", CD_NUM_OK, 9007199254740994.0, 0},
    {"4503599627370496.5", CD_NUM_OK, 4503599627370496.0, 0}, /* halfway, q < 0 */
    {"4503599627370497.5", CD_NUM_OK, 4503599627370498.0, 0},
    {"18446744073709551615", CD_NUM_OK, 18446744073709551615.0, 0},
    {"18446744073709551616", CD_NUM_OK, 18446744073709551616.0, 0},
    {"12345678901234567890123", CD_NUM_OK, 12345678901234567890123.0, 0},
    {"1.7976931348623157e308", CD_NUM_OK, DBL_MAX, 0},
    {"1.7976931348623158e308", CD_NUM_OK, DBL_MAX, 0}, /* below the halfway point to 2^1024 */
    {"-1.7976931348623157e308", CD_NUM_OK, -DBL_MAX, 0},
    {"1.7976931348623159e308", CD_NUM_RANGE, 0, 0},
    {"2.2250738585072014e-308", CD_NUM_OK, DBL_MIN, 0},
    {"2.2250738585072011e-308", CD_NUM_OK, 0x0.fffffffffffffp-1022, 0},
    {"2.2250738585072012e-308", CD_NUM_OK, DBL_MIN, 0},
    {"4.9e-324", CD_NUM_OK, 0x1p-1074, 0},
    {"5e-324", CD_NUM_OK, 0x1p-1074, 0},
    {"-4.9406564584124654e-324", CD_NUM_OK, -0x1p-1074, 0},
    {"2.4703282292062327e-324", CD_NUM_OK, 0.0, 0}, /* just below 2^-1075 */
    {"2.4703282292062328e-324", CD_NUM_OK, 0x1p-1074, 0},
    {"1e-400", CD_NUM_OK, 0.0, 0},
    {"-1e-400", CD_NUM_OK, -0.0, 0},
    {"1e400", CD_NUM_RANGE, 0, 0},
    {"-1e400", CD_NUM_RANGE, 0, 0},
    {"1e999999999999", CD_NUM_RANGE, 0, 0},
    {"1e-999999999999", CD_NUM_OK, 0.0, 0},
    {"1e99999999999999999999999999999", CD_NUM_RANGE, 0, 0},
    {"0e999999", CD_NUM_OK, 0.0, 0},
    {"0.000e99999999999999999999", CD_NUM_OK, 0.0, 0},
    {"0.00001e-999999999999999999999", CD_NUM_OK, 0.0, 0},
    {"100e-2", CD_NUM_OK, 1.0, 0},
    {"0.000000000000000000000000000001e30", CD_NUM_OK, 1.0, 0},
    /* the number ends where the grammar does; the caller checks what follows */
    {"0x10", CD_NUM_OK, 0.0, 1},
    {"1.5.3", CD_NUM_OK, 1.5, 3},
    {"1e5e5", CD_NUM_OK, 1e5, 3},
    {"12,", CD_NUM_OK, 12.0, 2},
    {"-7]", CD_NUM_OK, -7.0, 2},
    /* bytes just above '9' end a run of digits too (8 bytes at a time) */
    {"12345:67890123", CD_NUM_OK, 12345.0, 5},
    {"1234567;90123456", CD_NUM_OK, 1234567.0, 7},
    {"0.5<000000000", CD_NUM_OK, 0.5, 3},
    {"0.1234567=1234567", CD_NUM_OK, 0.1234567, 9},
    {"3.25>99999999", CD_NUM_OK, 3.25, 4},
    {"123456789?12345678", CD_NUM_OK, 123456789.0, 9},
    {"9/123456789", CD_NUM_OK, 9.0, 1},
    {"1.5e1:00000000", CD_NUM_OK, 15.0, 5},
    {"1\xff" "2345678", CD_NUM_OK, 1.0, 1},
    /* not JSON numbers */
    {"", CD_NUM_SYNTAX, 0, 0},
    {"-", CD_NUM_SYNTAX, 0, 0},
    {"+1", CD_NUM_SYNTAX, 0, 0},
    {".5", CD_NUM_SYNTAX, 0, 0},
    {"-.5", CD_NUM_SYNTAX, 0, 0},
    {"1.", CD_NUM_SYNTAX, 0, 0},
    {"1.e5", CD_NUM_SYNTAX, 0, 0},
    {"01", CD_NUM_SYNTAX, 0, 0},
    {"-01", CD_NUM_SYNTAX, 0, 0},
    {"00", CD_NUM_SYNTAX, 0, 0},
    {"00.5", CD_NUM_SYNTAX, 0, 0},
    {"1e", CD_NUM_SYNTAX, 0, 0},
    {"1e+", CD_NUM_SYNTAX, 0, 0},
    {"1e-", CD_NUM_SYNTAX, 0, 0},
    {"1E+x", CD_NUM_SYNTAX, 0, 0},
    {"e5", CD_NUM_SYNTAX, 0, 0},
    {" 1", CD_NUM_SYNTAX, 0, 0},
    {"- 1", CD_NUM_SYNTAX, 0, 0},
    {"--1", CD_NUM_SYNTAX, 0, 0},
    {"NaN", CD_NUM_SYNTAX, 0, 0},
    {"Infinity", CD_NUM_SYNTAX, 0, 0},
    {"-Infinity", CD_NUM_SYNTAX, 0, 0},
    {"true", CD_NUM_SYNTAX, 0, 0},
};

static void test_parse_table(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof parse_cases / sizeof *parse_cases; i++) {
        const parse_case *c = &parse_cases[i];
        double got;
        size_t used, len = strlen(c->in);
        cd_num_status st = parse_exact(c->in, len, &got, &used);
        if (st != c->st) fail_msg("'%s': status %d, want %d", c->in, (int)st, (int)c->st);
        if (st != CD_NUM_OK) continue;
        if (bits_of(got) != bits_of(c->want))
            fail_msg("'%s': got %.17g (%a), want %.17g (%a)", c->in, got, got, c->want, c->want);
        if (used != (c->used ? c->used : len)) fail_msg("'%s': used %zu characters", c->in, used);
        if (strchr("-0123456789", c->in[0]) && c->used == 0) parse_like_strtod(c->in); /* the table agrees with libc */
    }
}

/* The end pointer bounds the number: a prefix parses as that prefix. */
static void test_parse_end(void **state) {
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        cd_num_status st;
        double want;
    } cases[] = {
        {"12345", 3, CD_NUM_OK, 123.0},   {"1.5", 2, CD_NUM_SYNTAX, 0},   {"1e5", 2, CD_NUM_SYNTAX, 0},
        {"1e+5", 3, CD_NUM_SYNTAX, 0},    {"-1", 1, CD_NUM_SYNTAX, 0},    {"0.25", 3, CD_NUM_OK, 0.2},
        {"2.5e10", 4, CD_NUM_SYNTAX, 0},  {"2.5e10", 5, CD_NUM_OK, 2.5e1}, {"7", 0, CD_NUM_SYNTAX, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        double got;
        size_t used;
        cd_num_status st = parse_exact(cases[i].in, cases[i].len, &got, &used);
        if (st != cases[i].st) fail_msg("'%.*s': status %d", (int)cases[i].len, cases[i].in, (int)st);
        if (st == CD_NUM_OK) {
            assert_true(got == cases[i].want);
            assert_int_equal(used, cases[i].len);
        }
    }
}

/* Long digit strings (800+ digits), including ones that sit on a halfway
 * point for their first 17 digits and decide only far out. */
static void test_parse_long(void **state) {
    (void)state;
    enum { N = 900 };
    char s[N + 64];
    /* 800 random digits, at several decimal exponents */
    for (int rep = 0; rep < 40; rep++) {
        int n = 0;
        s[n++] = (char)('1' + tu_rand64() % 9);
        for (int i = 1; i < 800; i++) s[n++] = (char)('0' + tu_rand64() % 10);
        snprintf(s + n, sizeof s - (size_t)n, "e%d", (int)(tu_rand64() % 1400) - 1100);
        parse_like_strtod(s);
    }
    /* 9007199254740993 (a halfway point) then 800 zeros, then 1 or 0:
     * as a fraction, and as one integer scaled back by e-801 */
    for (int tail = 0; tail < 2; tail++) {
        double want = tail ? 9007199254740994.0 : 9007199254740992.0, got;
        for (int form = 0; form < 2; form++) {
            int n = snprintf(s, sizeof s, form ? "9007199254740993" : "9007199254740993.");
            for (int i = 0; i < 800; i++) s[n++] = '0';
            s[n++] = tail ? '1' : '0';
            if (form) n += snprintf(s + n, 8, "e-801");
            s[n] = 0;
            assert_int_equal(parse_exact(s, (size_t)n, &got, NULL), CD_NUM_OK);
            assert_true(got == want);
            parse_like_strtod(s);
        }
    }
    /* 0.000...0001 with 800 zeros is 1e-801: zero */
    int n = snprintf(s, sizeof s, "0.");
    for (int i = 0; i < 800; i++) s[n++] = '0';
    s[n++] = '1';
    double got;
    assert_int_equal(parse_exact(s, (size_t)n, &got, NULL), CD_NUM_OK);
    assert_true(got == 0 && !signbit(got));
    /* 2^-1074's exact expansion (751 significant digits) and its halfway
     * neighbours, to 780 digits: exact value, just below and above */
    snprintf(s, sizeof s, "%.780e", 0x1p-1074);
    parse_like_strtod(s);
    snprintf(s, sizeof s, "%.780Le", 0x1p-1075L);
    parse_like_strtod(s);
    assert_int_equal(parse_exact(s, strlen(s), &got, NULL), CD_NUM_OK);
    assert_true(got == 0); /* exactly half the smallest subnormal: to even, 0 */
    snprintf(s, sizeof s, "%.780Le", 0x1.8p-1074L);
    assert_int_equal(parse_exact(s, strlen(s), &got, NULL), CD_NUM_OK);
    assert_true(got == 0x1p-1073); /* 1.5 units: to even, 2 units */
    parse_like_strtod(s);
}

/* Random doubles written by "%.17g" and by the printer read back exactly. */
static void test_parse_roundtrip(void **state) {
    (void)state;
    char buf[64];
    int count = 1000000 / RANDOM_SCALE;
    for (int i = 0; i < count; i++) {
        double v = rnd_double(), got;
        int n = snprintf(buf, sizeof buf, "%.17g", v);
        if (parse_exact(buf, (size_t)n, &got, NULL) != CD_NUM_OK || bits_of(got) != bits_of(v))
            fail_msg("'%s' read back as %a, want %a", buf, got, v);
        n = cd_num_print_f64(v, buf);
        if (parse_exact(buf, (size_t)n, &got, NULL) != CD_NUM_OK || bits_of(got) != bits_of(v))
            fail_msg("'%.*s' read back as %a, want %a", n, buf, got, v);
    }
}

/* Random decimal strings of 1-25 digits and random exponents, and the
 * near-halfway decimals of random doubles, against strtod. */
static void test_parse_vs_strtod(void **state) {
    (void)state;
    char s[1024];
    int count = 400000 / RANDOM_SCALE;
    for (int i = 0; i < count; i++) {
        int n = 0, nd = 1 + (int)(tu_rand64() % 25), ip = (int)(tu_rand64() % (uint64_t)(nd + 1));
        if (tu_rand64() & 1) s[n++] = '-';
        if (ip == 0) s[n++] = '0';
        for (int d = 0; d < nd; d++) {
            if (d == ip && ip > 0) s[n++] = '.';
            if (ip == 0 && d == 0) s[n++] = '.';
            s[n++] = (char)(d == 0 && ip > 0 ? '1' + tu_rand64() % 9 : '0' + tu_rand64() % 10);
        }
        switch (tu_rand64() % 4) {
        case 0: break;
        case 1: n += snprintf(s + n, 16, "e%d", (int)(tu_rand64() % 700) - 350); break;
        case 2: n += snprintf(s + n, 16, "E+%d", (int)(tu_rand64() % 40)); break;
        default: n += snprintf(s + n, 16, "e-%d", (int)(tu_rand64() % 40)); break;
        }
        s[n] = 0;
        parse_like_strtod(s);
    }
    /* halfway points between neighbouring doubles are exact in x87's
     * 64-bit long double: print them to many precisions */
#if LDBL_MANT_DIG >= 64
    static const int precs[] = {15, 16, 17, 18, 19, 20, 24, 30, 40};
    count = 30000 / RANDOM_SCALE;
    for (int i = 0; i < count; i++) {
        double a = fabs(rnd_double());
        if (a == DBL_MAX) continue;
        double b = nextafter(a, INFINITY);
        long double mid = ((long double)a + b) / 2;
        for (size_t p = 0; p < sizeof precs / sizeof *precs; p++) {
            snprintf(s, sizeof s, "%.*Le", precs[p], mid);
            parse_like_strtod(s);
        }
        if (i % 16 == 0) { /* the exact expansion: ties go to the even one */
            snprintf(s, sizeof s, "%.780Le", mid);
            double got;
            assert_int_equal(parse_exact(s, strlen(s), &got, NULL), CD_NUM_OK);
            double even = (bits_of(a) & 1) ? b : a;
            if (got != even) fail_msg("halfway %.25Le: got %a, want %a", mid, got, even);
        }
    }
#endif
}

/* Short decimals (the parser's two-load fast path) followed by what comes
 * after numbers in arrays, or by what makes them longer or malformed, with
 * the end of the buffer right after the tail: against strtod. */
static void test_parse_short(void **state) {
    (void)state;
    static const char *tails[] = {"", ",", "]", ",0.5,0.25,-0.125,1,2,3", " ,", "e3", "E-2,", "e+1]", ".", ".5",
                                  "x", "-", "0", "00000000000000000,"};
    char s[96];
    int count = 300000 / RANDOM_SCALE;
    for (int i = 0; i < count; i++) {
        int n = 0, ni = (int)(tu_rand64() % 10), nf = (int)(tu_rand64() % 10);
        if (tu_rand64() & 1) s[n++] = '-';
        s[n++] = (char)(ni == 0 ? '0' : '1' + tu_rand64() % 9);
        for (int d = 1; d < ni; d++) s[n++] = (char)('0' + tu_rand64() % 10);
        if (nf) s[n++] = '.';
        for (int d = 0; d < nf; d++) s[n++] = (char)('0' + tu_rand64() % 10);
        if (tu_rand64() % 16 == 0) s[0] = '0'; /* leading zeros: "01.5", "0-..." */
        s[n] = 0;
        const char *tail = tails[tu_rand64() % (sizeof tails / sizeof *tails)];
        size_t tl = strlen(tail);
        memcpy(s + n, tail, tl + 1);
        char *end_ptr;
        double want = strtod(s, &end_ptr), got;
        size_t want_used = (size_t)(end_ptr - s);
        /* strtod's reading is JSON's unless the text is not JSON */
        int json = !(s[0] == '0' && s[1] >= '0' && s[1] <= '9') && !(s[0] == '-' && s[1] == '0' && s[2] >= '0' &&
                                                                       s[2] <= '9');
        if (tail[0] == '.' || tail[0] == 'e' || tail[0] == 'E' || tail[0] == '0') json = 0; /* decided below */
        size_t used;
        cd_num_status st = parse_exact(s, (size_t)n + tl, &got, &used);
        if (!json) {
            /* a longer or malformed token: the general path decides; it
             * must agree with strtod whenever it accepts */
            if (st == CD_NUM_OK && (used != want_used || bits_of(got) != bits_of(want)))
                fail_msg("'%s': got %a using %zu, strtod %a using %zu", s, got, used, want, want_used);
            continue;
        }
        if (st != CD_NUM_OK || used != (size_t)n || bits_of(got) != bits_of(want))
            fail_msg("'%s': status %d, got %a using %zu, want %a using %d", s, (int)st, got, used, want, n);
    }
}

/* ---- print: reference --------------------------------------------------- */

/* The decimal written in s[0..len): significand digits (no leading or
 * trailing zeros) and exponent, value = digits * 10^exp. */
static void decimal_of(const char *s, int len, uint64_t *digits, int *exp, int *ndigits) {
    char ds[64];
    int n = 0, frac = 0, in_frac = 0, e = 0, i = 0;
    if (i < len && s[i] == '-') i++;
    for (; i < len && s[i] != 'e' && s[i] != 'E'; i++) {
        if (s[i] == '.') {
            in_frac = 1;
            continue;
        }
        assert_true(n < (int)sizeof ds);
        ds[n++] = s[i];
        frac += in_frac;
    }
    if (i < len) e = atoi(s + i + 1);
    e -= frac;
    int lead = 0;
    while (lead < n && ds[lead] == '0') lead++;
    while (n > lead && ds[n - 1] == '0') {
        n--;
        e++;
    }
    uint64_t d = 0;
    assert_true(n - lead <= 19);
    for (int j = lead; j < n; j++) d = d * 10 + (uint64_t)(ds[j] - '0');
    *digits = d;
    *exp = e;
    *ndigits = n - lead;
}

/* Does digits * 10^exp read back as v (strtod, or strtof when f32)? */
static int reads_back(uint64_t digits, int exp, double v, int f32) {
    char s[48], *o = s + 24;
    int n = 0, e = exp < 0 ? -exp : exp;
    do { /* "<digits>e<exp>", built by hand: snprintf would double the cost */
        s[23 - n++] = (char)('0' + digits % 10);
        digits /= 10;
    } while (digits);
    const char *start = s + 24 - n;
    *o++ = 'e';
    if (exp < 0) *o++ = '-';
    char t[8];
    int m = 0;
    do {
        t[m++] = (char)('0' + e % 10);
        e /= 10;
    } while (e);
    while (m) *o++ = t[--m];
    *o = 0;
    if (f32) return bits_of_f(strtof(start, NULL)) == bits_of_f((float)v);
    return bits_of(strtod(start, NULL)) == bits_of(v);
}

/* glibc rounds v > 0 exactly to N (*nd_, *ne), the nearest decimal of p
 * significant digits; S (*sd, *se) is N's neighbour of p digits on v's
 * other side. N and S are the p-digit decimals nearest v from below and
 * from above, so if any decimal of at most p digits reads back as v, N or
 * S does (the values that read back as v form an interval around it). */
static void ref_candidates(double v, int p, uint64_t *nd_, int *ne, uint64_t *sd, int *se) {
    char s[64];
    snprintf(s, sizeof s, "%.*e", p - 1, v);
    uint64_t d;
    int e, nd;
    decimal_of(s, (int)strlen(s), &d, &e, &nd);
    *nd_ = d;
    *ne = e;
    while (nd < p) { /* back to exactly p digits, then one step toward v */
        d *= 10;
        e--;
        nd++;
    }
    uint64_t top = 1;
    for (int i = 1; i < p; i++) top *= 10; /* 10^(p-1) */
    if (strtod(s, NULL) < v) d++;
    else if (d == top) { /* 100..0 minus one unit has p-1 digits: step on the finer grid */
        d = top * 10 - 1;
        e--;
    } else d--;
    while (d % 10 == 0) {
        d /= 10;
        e++;
    }
    *sd = d;
    *se = e;
}

/* Number#toString's layout of digits * 10^exp (nd digits), written from
 * ECMA-262 Number::toString; the printer's text must equal it. */
static void js_layout(char *out, int neg, uint64_t digits, int exp, int nd) {
    char ds[32];
    snprintf(ds, sizeof ds, "%llu", (unsigned long long)digits);
    int n = nd + exp; /* ECMA's n: value = 0.digits * 10^n */
    char *o = out;
    if (neg) *o++ = '-';
    if (nd <= n && n <= 21) { /* the digits and n-k zeros */
        o += sprintf(o, "%s", ds);
        for (int i = 0; i < n - nd; i++) *o++ = '0';
    } else if (0 < n && n <= 21) {
        o += sprintf(o, "%.*s.%s", n, ds, ds + n);
    } else if (-6 < n && n <= 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -n; i++) *o++ = '0';
        o += sprintf(o, "%s", ds);
    } else {
        *o++ = ds[0];
        if (nd > 1) o += sprintf(o, ".%s", ds + 1);
        o += sprintf(o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    *o = 0;
}

/* printed (nd significant digits d * 10^e) is the shortest decimal that
 * reads back as a = |v|, and the nearest to a of that length: no decimal
 * of nd-1 digits reads back, and of the nd-digit ones it is N when N reads
 * back, else S (see ref_candidates). */
static void check_shortest(double v, int f32, const char *printed, uint64_t d, int e, int nd) {
    double a = fabs(v);
    uint64_t n1, s1;
    int ne, se;
    if (nd > 1) {
        ref_candidates(a, nd - 1, &n1, &ne, &s1, &se);
        if (reads_back(n1, ne, a, f32) || reads_back(s1, se, a, f32))
            fail_msg("%a printed as '%s' (%d digits), but %d digits suffice", v, printed, nd, nd - 1);
    }
    ref_candidates(a, nd, &n1, &ne, &s1, &se);
    int n_ok = (n1 == d && ne == e) || reads_back(n1, ne, a, f32);
    if (n_ok ? !(n1 == d && ne == e) : !(s1 == d && se == e))
        fail_msg("%a printed as '%s', the nearest shortest is %llue%d", v, printed,
                 (unsigned long long)(n_ok ? n1 : s1), n_ok ? ne : se);
}

/* Check one printed value: its text reads back and has the JS layout;
 * with full, also check_shortest (slow: two glibc "%.*e", some strtod). */
static void check_print_at(double v, int f32, int full) {
    char buf[CD_NUM_MAX + 8], want[64];
    memset(buf, 0x7F, sizeof buf);
    int len = f32 ? cd_num_print_f32((float)v, buf) : cd_num_print_f64(v, buf);
    assert_true(len > 0 && len <= CD_NUM_MAX);
    for (size_t i = CD_NUM_MAX; i < sizeof buf; i++) assert_true(buf[i] == 0x7F); /* nothing past CD_NUM_MAX */
    buf[len] = 0;
    if (f32 ? bits_of_f(strtof(buf, NULL)) != bits_of_f((float)v) : bits_of(strtod(buf, NULL)) != bits_of(v))
        fail_msg("%a printed as '%s', which reads back differently", v, buf);
    if (v == 0) {
        assert_string_equal(buf, signbit(v) ? "-0.0" : "0");
        return;
    }
    uint64_t d;
    int e, nd;
    decimal_of(buf, len, &d, &e, &nd);
    if (full) check_shortest(v, f32, buf, d, e, nd);
    js_layout(want, signbit(v) != 0, d, e, nd);
    if (strcmp(buf, want) != 0) fail_msg("%a printed as '%s', the layout wants '%s'", v, buf, want);
}

static void check_print(double v, int f32) {
    check_print_at(v, f32, 1);
}

/* ---- print: tables and random ----------------------------------------- */

typedef struct print_case {
    double v;
    const char *want;
} print_case;

static const print_case f64_cases[] = {
    {0.0, "0"},
    {-0.0, "-0.0"},
    {0.1, "0.1"},
    {6.0, "6"},
    {-2.0, "-2"},
    {-2.5, "-2.5"},
    {123000.0, "123000"},
    {1e21, "1e+21"},
    {1e20, "100000000000000000000"},
    {999999999999999900000.0, "999999999999999900000"},
    {1e-7, "1e-7"},
    {1.5e-7, "1.5e-7"},
    {0.000001, "0.000001"},
    {1.2345e-6, "0.0000012345"},
    {123456789012345680000.0, "123456789012345680000"},
    {5e-324, "5e-324"},
    {1e-323, "1e-323"},
    {1.5e-323, "1.5e-323"},
    {DBL_MAX, "1.7976931348623157e+308"},
    {-DBL_MAX, "-1.7976931348623157e+308"},
    {DBL_MIN, "2.2250738585072014e-308"},
    {-2e-308, "-2e-308"},
    {0.30000000000000004, "0.30000000000000004"},
    {1.0 / 3.0, "0.3333333333333333"},
    {9007199254740992.0, "9007199254740992"},
    {9007199254740994.0, "9007199254740994"},
    {9223372036854775808.0, "9223372036854776000"},
    {1e23, "1e+23"},
    {1e22, "1e+22"},
    {0.048123, "0.048123"},
    {123456.789, "123456.789"},
    {1e100, "1e+100"},
    {1.7e-300, "1.7e-300"},
    {4.35, "4.35"},
    {2.0 / 3.0, "0.6666666666666666"},
};

static void test_print_f64_table(void **state) {
    (void)state;
    char buf[CD_NUM_MAX + 1];
    for (size_t i = 0; i < sizeof f64_cases / sizeof *f64_cases; i++) {
        int n = cd_num_print_f64(f64_cases[i].v, buf);
        buf[n] = 0;
        if (strcmp(buf, f64_cases[i].want) != 0)
            fail_msg("%a printed as '%s', want '%s'", f64_cases[i].v, buf, f64_cases[i].want);
        check_print(f64_cases[i].v, 0);
    }
    int n = cd_num_print_f64(NAN, buf);
    assert_int_equal(n, 3);
    assert_memory_equal(buf, "NaN", 3);
    n = cd_num_print_f64(-INFINITY, buf);
    assert_int_equal(n, 9);
    assert_memory_equal(buf, "-Infinity", 9);
}

typedef struct print_case_f {
    float v;
    const char *want;
} print_case_f;

static const print_case_f f32_cases[] = {
    {0.0f, "0"},
    {-0.0f, "-0.0"},
    {0.1f, "0.1"},
    {(float)0.048123, "0.048123"},
    {16777216.0f, "16777216"},
    {16777218.0f, "16777218"},
    {3.4028235e38f, "3.4028235e+38"},
    {1e-45f, "1e-45"},
    {FLT_MIN, "1.1754944e-38"},
    {1.0f / 3.0f, "0.33333334"},
    {1.5f, "1.5"},
    {100.0f, "100"},
    {123456789.0f, "123456790"},
    {1e21f, "1e+21"},
    {1e-7f, "1e-7"},
    {-0.0123f, "-0.0123"},
    {7.0f, "7"},
    {33554432.0f, "33554432"},
    {1e10f, "10000000000"},
};

static void test_print_f32_table(void **state) {
    (void)state;
    char buf[CD_NUM_MAX + 1];
    for (size_t i = 0; i < sizeof f32_cases / sizeof *f32_cases; i++) {
        int n = cd_num_print_f32(f32_cases[i].v, buf);
        buf[n] = 0;
        if (strcmp(buf, f32_cases[i].want) != 0)
            fail_msg("%a (f32) printed as '%s', want '%s'", (double)f32_cases[i].v, buf, f32_cases[i].want);
        check_print(f32_cases[i].v, 1);
    }
}

/* Powers of two (the uneven gap below them), their neighbours, the
 * smallest subnormals, integers near 2^53 and the layout boundaries. */
static void test_print_edges(void **state) {
    (void)state;
    for (int e = -1074; e <= 1023; e++) {
        double v = ldexp(1.0, e);
        check_print(v, 0);
        check_print(nextafter(v, 0), 0);
        check_print(nextafter(v, INFINITY), 0);
    }
    for (int e = -149; e <= 127; e++) {
        float v = ldexpf(1.0f, e);
        check_print(v, 1);
        check_print(nextafterf(v, 0), 1);
        check_print(nextafterf(v, INFINITY), 1);
    }
    for (uint64_t c = 1; c <= 3000; c++) {
        check_print(from_bits(c), 0);
        check_print(from_bits_f((uint32_t)c), 1);
        check_print(from_bits(((uint64_t)0x7FE << 52) | ((1ull << 52) - c)), 0); /* near DBL_MAX */
    }
    for (double v = 0x1p53 - 50; v < 0x1p53 + 100; v = nextafter(v, INFINITY)) check_print(v, 0);
    static const double bounds[] = {1e21, 1e-7, 1e-6, 1e-5, 1.0, 10.0, 1e15, 1e16, 1e17, 1e22, 1e23, 1e-300, 1e300};
    for (size_t i = 0; i < sizeof bounds / sizeof *bounds; i++) {
        double v = bounds[i];
        for (int j = 0; j < 20; j++) v = nextafter(v, 0);
        for (int j = 0; j < 40; j++, v = nextafter(v, INFINITY)) {
            check_print(v, 0);
            check_print(-v, 0);
            if (fabs(v) <= FLT_MAX) check_print((float)v, 1);
        }
    }
    /* round decimals: the shortest form is the decimal itself */
    for (int i = 1; i < 20000; i++) {
        check_print(i * 1e-4, 0);
        check_print((float)(i * 1e-4), 1);
        check_print(i * 1e17, 0);
    }
}

/* A million random doubles read back with the JS layout; every fifth is
 * checked against the reference (it costs ten times the rest). */
static void test_print_f64_random(void **state) {
    (void)state;
    int count = 1000000 / RANDOM_SCALE;
    for (int i = 0; i < count; i++) check_print_at(rnd_double(), 0, i % 5 == 0);
}

static void test_print_f32_random(void **state) {
    (void)state;
    int count = 1000000 / RANDOM_SCALE;
    for (int i = 0; i < count; i++) check_print_at(rnd_float(), 1, i % 5 == 0);
}

/* Every binade of float32 (subnormals too): its first and last 64
 * significands and 2000 random ones, read back with the JS layout, every
 * eighth against the reference. Covers the table entry of every exponent
 * on the fast path and each way to the general one. */
static void test_print_f32_binades(void **state) {
    (void)state;
    int per = 2000 / RANDOM_SCALE;
    for (uint32_t be = 0; be < 255; be++) {
        for (int i = 0; i < 128 + per; i++) {
            uint32_t frac = i < 64 ? (uint32_t)i : i < 128 ? (1u << 23) - 1 - (uint32_t)(i - 64)
                                                           : (uint32_t)(tu_rand64() >> 41);
            uint32_t b = be << 23 | frac | (uint32_t)(tu_rand64() & 1) << 31;
            check_print_at(from_bits_f(b), 1, i % 8 == 0);
        }
    }
}

/* Typical tensor values: small gaussians rounded to a few decimals. */
static void test_print_tensor_like(void **state) {
    (void)state;
    char buf[CD_NUM_MAX + 1], want[32];
    tu_seed(7);
    for (int i = 0; i < 100000 / RANDOM_SCALE; i++) {
        double g = tu_uniform(-0.2, 0.2);
        int places = 1 + i % 7;
        snprintf(want, sizeof want, "%.*f", places, g);
        double v = strtod(want, NULL);
        check_print(v, 0);
        check_print((float)v, 1);
        int n = cd_num_print_f64(v, buf);
        buf[n] = 0;
        assert_true(strtod(buf, NULL) == v);
        assert_true(n <= (int)strlen(want)); /* never longer than the decimal it came from */
    }
}

/* ---- lists ------------------------------------------------------------ */

/* The expected list text: each number by the single printer (a
 * non-finite one as its ProtoJSON string), joined by ','. */
static size_t join_single(const double *v, int f32, size_t n, char *out) {
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i) out[len++] = ',';
        double x = f32 ? (double)(float)v[i] : v[i]; /* a big double is an infinite float */
        const char *s = isnan(x) ? "\"NaN\"" : isinf(x) ? (x > 0 ? "\"Infinity\"" : "\"-Infinity\"") : NULL;
        if (s) {
            memcpy(out + len, s, strlen(s));
            len += strlen(s);
        } else {
            len += (size_t)(f32 ? cd_num_print_f32((float)v[i], out + len) : cd_num_print_f64(v[i], out + len));
        }
    }
    return len;
}

/* v[0..n) through the list printer into a buffer of exactly
 * CD_NUM_LIST_BYTES(n) (so the sanitizers see any overrun), against the
 * single printer. */
static void check_list(const double *v, int f32, size_t n) {
    char want[9 * 40 + 1];
    float fv[9];
    assert_true(n <= 9);
    for (size_t i = 0; i < n; i++) fv[i] = (float)v[i];
    size_t wn = join_single(v, f32, n, want);
    char *got = malloc(CD_NUM_LIST_BYTES(n) + 1);
    assert_non_null(got);
    size_t gn = f32 ? cd_num_print_f32_list(fv, n, got) : cd_num_print_f64_list(v, n, got);
    assert_true(gn <= CD_NUM_LIST_BYTES(n));
    got[gn] = 0;
    want[wn] = 0;
    assert_string_equal(got, want);
    free(got);
}

static void test_print_list_exact(void **state) {
    (void)state;
    char out[CD_NUM_LIST_BYTES(12)];
    const float f[12] = {0.1f, -0.0f, NAN, 3, -INFINITY, 1e-7f, 16777216, 0.000001f, INFINITY, -0.06982904f, 0, 1e21f};
    size_t n = cd_num_print_f32_list(f, 12, out);
    out[n] = 0;
    assert_string_equal(out, "0.1,-0.0,\"NaN\",3,\"-Infinity\",1e-7,16777216,0.000001,\"Infinity\",-0.06982904,0,1e+21");
    const double d[6] = {0.1, -0.0, NAN, 1e21, -INFINITY, 123456.789};
    n = cd_num_print_f64_list(d, 6, out);
    out[n] = 0;
    assert_string_equal(out, "0.1,-0.0,\"NaN\",1e+21,\"-Infinity\",123456.789");
    assert_int_equal(cd_num_print_f32_list(f, 0, out), 0);
    assert_int_equal(cd_num_print_f64_list(d, 0, out), 0);
    n = cd_num_print_f32_list(f + 2, 1, out);
    out[n] = 0;
    assert_string_equal(out, "\"NaN\"");
}

/* Every length 0..9 with mixed lanes: tensor-like values of both signs,
 * random bit patterns, zeros, integers, powers of two, subnormals and
 * non-finite numbers, so each kind lands in every position of a group. */
static void test_print_list_mixed(void **state) {
    (void)state;
    double v[9];
    for (int round = 0; round < 20000 / RANDOM_SCALE; round++) {
        for (int i = 0; i < 9; i++) {
            uint64_t r = tu_rand64();
            switch (r % 9) {
            case 0: v[i] = tu_uniform(-0.2, 0.2); break;
            case 1: v[i] = (r >> 8) % 2 ? rnd_double() : rnd_float(); break;
            case 2: v[i] = (r >> 8) % 2 ? 0.0 : -0.0; break;
            case 3: v[i] = (double)((int64_t)(r >> 8) % 100000); break;
            case 4: v[i] = ldexp((r >> 8) % 2 ? 1 : -1, (int)((r >> 9) % 300) - 150); break;
            case 5: v[i] = (double)from_bits_f((uint32_t)(r >> 40) & 0x807FFFFF); break; /* subnormal float */
            case 6: v[i] = (r >> 8) % 3 == 0 ? NAN : (r >> 8) % 3 == 1 ? INFINITY : -INFINITY; break;
            case 7: v[i] = tu_uniform(-1e6, 1e6); break;
            default: v[i] = tu_uniform(-1, 1) * pow(10, (double)((int)((r >> 8) % 60) - 30)); break;
            }
        }
        for (size_t n = 0; n <= 9; n++) {
            check_list(v, 1, n);
            check_list(v, 0, n);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_use_threads),
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_parse_end),
        cmocka_unit_test(test_parse_long),
        cmocka_unit_test(test_parse_roundtrip),
        cmocka_unit_test(test_parse_vs_strtod),
        cmocka_unit_test(test_parse_short),
        cmocka_unit_test(test_print_f64_table),
        cmocka_unit_test(test_print_f32_table),
        cmocka_unit_test(test_print_edges),
        cmocka_unit_test(test_print_f64_random),
        cmocka_unit_test(test_print_f32_random),
        cmocka_unit_test(test_print_f32_binades),
        cmocka_unit_test(test_print_tensor_like),
        cmocka_unit_test(test_print_list_exact),
        cmocka_unit_test(test_print_list_mixed),
    };
    return cmocka_run_group_tests_name("num", tests, NULL, NULL);
}

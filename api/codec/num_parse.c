/* num_parse.c -- cd_num_parse (see num.h; how it works: api/codec/num.c's
 * opening comment). The power-of-five table is shared with the printers
 * (num_impl.h). */
#include "num.h"
#include "num_impl.h"
#include "num_short.h"

#include <errno.h>
#include <float.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing ---------------------------------------------------------- */

static inline int is_digit(char c) {
    return (unsigned)(c - '0') < 10u;
}

#define INF_BITS 0x7FF0000000000000ull

/* Eisel-Lemire: the double nearest w * 10^q (w != 0, q in the table's
 * range) as bits (infinity's bits on overflow). Returns 0 when the
 * truncated power of five leaves the rounding undecided. */
__attribute__((noinline)) static int eisel_lemire(uint64_t w, int q, uint64_t *bits) {
    const pow5 *t = &cd_num_p5tab[q - P5_MIN];
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
__attribute__((noinline)) static cd_num_status parse_slow(const char *m, const char *mant_end, int neg, int q, int nd,
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
    if (v > DBL_MAX || v < -DBL_MAX) return CD_NUM_RANGE;
    *out = v;
    return CD_NUM_OK;
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

/* w with the digits of [p, e) appended (e - p <= 19, w small enough);
 * bytes up to end may be read. */
static inline uint64_t accumulate(uint64_t w, const char *p, const char *e, const char *end) {
    for (; e - p >= 8; p += 8) w = w * 100000000 + value8(load64(p), 8);
    int n = (int)(e - p);
    if (n == 0) return w;
    if (end - p >= 8) return w * cd_num_pow10[n] + value8(load64(p), n);
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
static inline cd_num_status scan(const char *s, const char *end, num_text *t, const char **next) {
    const char *p = s;
    t->neg = p < end && *p == '-';
    p += t->neg;
    *next = p;
    if (p == end || !is_digit(*p)) return CD_NUM_SYNTAX;
    t->ib = p;
    if (*p == '0') {
        p++;
        if (p < end && is_digit(*p)) {
            *next = p;
            return CD_NUM_SYNTAX;
        }
    } else {
        p = skip_digits(p + 1, end);
    }
    t->ie = t->fb = t->fe = p;
    if (p < end && *p == '.') {
        t->fb = ++p;
        if (p == end || !is_digit(*p)) {
            *next = p;
            return CD_NUM_SYNTAX;
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
            return CD_NUM_SYNTAX;
        }
        int64_t e = 0;
        do {
            if (e < 100000000000000000) e = e * 10 + (*p - '0'); /* saturates far beyond any token */
            p++;
        } while (p < end && is_digit(*p));
        t->exp = eneg ? -e : e;
    }
    *next = p;
    return CD_NUM_OK;
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

cd_num_status cd_num_parse(const char *s, const char *end, double *out, const char **next) {
    if (s < end && cd_num_parse_short(s, end, out, next)) return CD_NUM_OK;
    num_text t;
    cd_num_status st = scan(s, end, &t, next);
    if (st != CD_NUM_OK) return st;
    int nd, trunc;
    int64_t q64;
    uint64_t w = significant(&t, end, &nd, &q64, &trunc);
    if (w == 0 || q64 + nd <= -324) { /* below 10^-324 < 2^-1075: zero */
        *out = t.neg ? -0.0 : 0.0;
        return CD_NUM_OK;
    }
    if (q64 + nd - 1 >= 309) return CD_NUM_RANGE; /* at least 1e309 */
    int q = (int)q64;                              /* now in [-342, 308] */
#if FLT_EVAL_METHOD == 0
    if (!trunc && w <= (uint64_t)1 << 53 && q >= -22 && q <= 22) {
        double d = (double)w;
        d = q < 0 ? d / cd_num_exact_pow10[-q] : d * cd_num_exact_pow10[q];
        *out = t.neg ? -d : d;
        return CD_NUM_OK;
    }
#endif
    need_tables();
    uint64_t bits, bits2;
    int ok = eisel_lemire(w, q, &bits);
    if (ok && trunc) ok = eisel_lemire(w + 1, q, &bits2) && bits2 == bits;
    if (!ok) return parse_slow(t.ib, t.fb == t.fe ? t.ie : t.fe, t.neg, q, nd, out);
    if (bits >= INF_BITS) return CD_NUM_RANGE;
    bits |= (uint64_t)t.neg << 63;
    memcpy(out, &bits, sizeof bits);
    return CD_NUM_OK;
}

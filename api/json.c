/* json.c -- see json.h. One pass over the text; containers are attached
 * to their parent as they open, so closing one is just a pop. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "json_nums.h"
#include "num.h"
#include "num_short.h"
#include "out.h"

typedef struct frame {
    json_t *node;
    int is_object;
    const char *key;   /* objects: the raw text of the key being read (for error paths) */
    size_t key_len;
} frame;

#define GD_KEY_MAX 1024 /* bytes of one key */

typedef struct parser {
    const char *s, *end, *p;
    gd_doc *doc;
    gd_err *e;
    frame *stack;         /* (max_depth) open containers */
    int depth, max_depth;
    char *key;            /* pending object key (NUL-terminated) */
    size_t key_cap;
    char *str;            /* scratch for decoding strings */
    size_t str_cap;
    double *nums;         /* scratch for packed arrays */
    size_t nums_cap;
    int64_t charged, max_bytes;       /* estimated bytes built so far, and the budget (0: none) */
    const char *const *top_fields;    /* keys the root may have, or NULL */
    const char *top_what;
    const volatile int *cancel;
    unsigned ticks;                   /* charges since the start: the cancel flag is read every 4096 */
} parser;

/* What jansson 2.14 allocates for each kind of value, malloc's headers and
 * rounding included (measured on this stack): the budget is charged these
 * before the value is built. */
enum {
    COST_OBJECT = 256,        /* json_object_t and its first 8 buckets */
    COST_MEMBER = 96,         /* an object's pair record, plus the key's bytes */
    COST_ARRAY = 128,         /* json_array_t and its first table */
    COST_SLOT = 16,           /* an array slot, doubling included */
    COST_NUMBER = 32,         /* json_integer_t / json_real_t */
    COST_STRING = 72,         /* json_string_t plus the copy's header, plus its bytes */
    COST_PACKED = 256,        /* the stand-in array and its gd_packed record, plus 8 bytes a number */
};

/* ---- errors ---------------------------------------------------------- */

static int syntax(parser *P, const char *what) {
    long line = 1, col = 1;
    for (const char *q = P->s; q < P->p && q < P->end; q++) {
        if (*q == '\n') { line++; col = 1; }
        else col++;
    }
    return gd_fail(P->e, 400, "invalid_json", "", "the body is not valid JSON: %s at line %ld, column %ld", what, line,
                   col);
}

static int oom(parser *P) { return gd_fail(P->e, 413, "limit_exceeded", "", "out of memory reading the body"); }

static void error_path(const parser *P, char *out, size_t cap);
static int grow(void **buf, size_t *cap, size_t need, size_t elem);

/* Charge n bytes to the budget before they are allocated; every 4096th
 * charge also reads the cancel flag. */
static int charge(parser *P, int64_t n) {
    P->charged += n;
    if (P->max_bytes && P->charged > P->max_bytes) {
        char path[2048];
        error_path(P, path, sizeof path);
        return gd_fail(P->e, 413, "limit_exceeded", path,
                       "holding this body's JSON would take more than %lld bytes of memory, the limit for a body of "
                       "%zu bytes: send tensors as rectangular arrays of numbers, b64 or binary data",
                       (long long)P->max_bytes, (size_t)(P->end - P->s));
    }
    if ((++P->ticks & 4095) == 0 && P->cancel && *P->cancel)
        return gd_fail(P->e, 504, "cancelled", "", "the request was cancelled while its body was being read");
    return 0;
}

/* grow() for the parser's scratch buffers, charging what they grow by. */
static int grow_scratch(parser *P, void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t before = *cap;
    if (!grow(buf, cap, need, elem)) return oom(P), 0;
    return charge(P, (int64_t)((*cap - before) * elem)) == 0;
}
static void skip_ws(parser *P) {
    while (P->p < P->end && (*P->p == ' ' || *P->p == '\n' || *P->p == '\r' || *P->p == '\t')) P->p++;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < need) ncap *= 2;
    void *nb = realloc(*buf, ncap * elem);
    if (!nb) return 0;
    *buf = nb;
    *cap = ncap;
    return 1;
}

/* ---- strings --------------------------------------------------------- */

static int hex4(const char *q, unsigned *v) {
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = q[i];
        unsigned d = c >= '0' && c <= '9' ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'f' ? (unsigned)(c - 'a' + 10)
                     : c >= 'A' && c <= 'F' ? (unsigned)(c - 'A' + 10)
                                            : 16u;
        if (d > 15) return 0;
        *v = *v * 16 + d;
    }
    return 1;
}

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the leading run of s[0..n) that needs no decoding: printable
 * ASCII other than '"' and '\\'. Blocks of 32 are tested with one
 * branch-free pass, which the compiler vectorizes. */
static size_t plain_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        unsigned special = 0;
        for (int k = 0; k < 32; k++) {
            unsigned char c = s[i + (size_t)k];
            special |= (unsigned)(c < 0x20) | (unsigned)(c >= 0x80) | (unsigned)(c == '"') | (unsigned)(c == '\\');
        }
        if (special) break;
    }
    while (i < n && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\') i++;
    return i;
}

/* Read the string at P->p (at its opening quote). *text gets its decoded
 * bytes (pointing into the input when nothing needed decoding, else into
 * P->str) and *len their count. */
static int read_string(parser *P, const char **text, size_t *len) {
    P->p++;
    size_t avail = (size_t)(P->end - P->p);
    const char *quote = memchr(P->p, '"', avail);
    if (!quote) return syntax(P, "an unterminated string");
    size_t plain = plain_prefix((const unsigned char *)P->p, (size_t)(quote - P->p));
    if (P->p + plain == quote) { /* the common case: nothing to decode */
        *text = P->p;
        *len = plain;
        P->p = quote + 1;
        return 0;
    }
    /* Escapes or UTF-8: decode into P->str (never longer than the input). */
    if (!grow_scratch(P, (void **)&P->str, &P->str_cap, avail + 5, 1)) return -1;
    memcpy(P->str, P->p, plain);
    size_t n = plain;
    P->p += plain;
    while (P->p < P->end) {
        size_t run = plain_prefix((const unsigned char *)P->p, (size_t)(P->end - P->p));
        memcpy(P->str + n, P->p, run);
        n += run;
        P->p += run;
        if (P->p >= P->end) break;
        unsigned char c = (unsigned char)*P->p;
        if (c == '"') {
            P->p++;
            P->str[n] = '\0';
            *text = P->str;
            *len = n;
            return 0;
        }
        if (c < 0x20) return syntax(P, "a control character inside a string");
        if (c == '\\') {
            if (P->p + 1 >= P->end) break;
            char x = P->p[1];
            P->p += 2;
            switch (x) {
            case '"': P->str[n++] = '"'; break;
            case '\\': P->str[n++] = '\\'; break;
            case '/': P->str[n++] = '/'; break;
            case 'b': P->str[n++] = '\b'; break;
            case 'f': P->str[n++] = '\f'; break;
            case 'n': P->str[n++] = '\n'; break;
            case 'r': P->str[n++] = '\r'; break;
            case 't': P->str[n++] = '\t'; break;
            case 'u': {
                unsigned cp, lo;
                if (P->end - P->p < 4 || !hex4(P->p, &cp)) return syntax(P, "a bad \\u escape");
                P->p += 4;
                if (cp >= 0xD800 && cp <= 0xDBFF) { /* a surrogate pair */
                    if (P->end - P->p < 6 || P->p[0] != '\\' || P->p[1] != 'u' || !hex4(P->p + 2, &lo) || lo < 0xDC00 ||
                        lo > 0xDFFF)
                        return syntax(P, "an unpaired surrogate in a \\u escape");
                    P->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return syntax(P, "an unpaired surrogate in a \\u escape");
                }
                n += put_utf8(P->str + n, cp);
                break;
            }
            default: return syntax(P, "a bad escape in a string");
            }
            continue;
        }
        int k = gd_utf8_len((const unsigned char *)P->p, (const unsigned char *)P->end);
        if (!k) return syntax(P, "invalid UTF-8 in a string");
        memcpy(P->str + n, P->p, (size_t)k);
        n += (size_t)k;
        P->p += k;
    }
    return syntax(P, "an unterminated string");
}

/* ---- numbers --------------------------------------------------------- */

static int read_number(parser *P, json_t **out) {
    const char *start = P->p, *next;
    double v;
    gd_num_status st = gd_num_parse(P->p, P->end, &v, &next);
    if (st == GD_NUM_SYNTAX) return syntax(P, "a malformed number");
    if (st == GD_NUM_RANGE) return syntax(P, "a number beyond the float64 range");
    P->p = next;
    /* Whole numbers that fit are integers (labels, shapes, axes, steps). */
    int whole = 1;
    for (const char *q = start; q < next; q++)
        if (*q == '.' || *q == 'e' || *q == 'E') whole = 0;
    if (whole && next - start <= 18 && !(v == 0 && *start == '-')) {
        /* At most 18 characters: the digits fit; no strtoll, which would
         * read past an unterminated body. */
        json_int_t x = 0;
        for (const char *q = start + (*start == '-'); q < next; q++) x = x * 10 + (*q - '0');
        *out = json_integer(*start == '-' ? -x : x);
    }
    else *out = json_real(v);
    return *out ? 0 : oom(P);
}

/* ---- packed numeric arrays ------------------------------------------- */

static int is_num_start(char c) { return c == '-' || (c >= '0' && c <= '9'); }

/* Try to read the array at P->p as a rectangular nest of numbers with at
 * least GD_PACK_MIN of them. Returns 1 (read, *out set), 0 (not such an
 * array: nothing consumed) or -1 (error). */
static int try_packed(parser *P, json_t **out) {
    const char *q = P->p;
    int level = 0, leaf = -1, rank = 0;
    int64_t dims[GR_MAX_RANK], count[GR_MAX_RANK + 1];
    size_t n = 0;
    for (int i = 0; i < GR_MAX_RANK; i++) dims[i] = -1;
    for (;;) {
        /* at '[' */
        if (level >= GR_MAX_RANK) return 0;
        q++;
        count[level++] = 0;
        while (q < P->end && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
        if (q >= P->end) return 0;
        if (*q == '[') {
            if (leaf >= 0 && level >= leaf) return 0; /* deeper than the numbers */
            continue;
        }
        if (!is_num_start(*q)) return 0; /* empty, strings, objects: the general path */
        if (leaf < 0) {
            leaf = level;
            rank = level;
        } else if (leaf != level) {
            return 0;
        }
        /* a run of numbers, then ']' and maybe ', [' siblings */
        if (gd_json_nums_indexed()) { /* indexed first, so numbers parse independently */
            size_t n0 = n, cap0 = P->nums_cap;
            int r = gd_json_nums_run(q, P->end, &P->nums, &P->nums_cap, &n, &q);
            if (P->nums_cap > cap0 && charge(P, (int64_t)((P->nums_cap - cap0) * sizeof(double))) < 0) return -1;
            if (r <= 0) return r < 0 ? oom(P) : 0;
            count[level - 1] += (int64_t)(n - n0);
        } else for (;;) { /* the same, a number at a time */
            if (!grow_scratch(P, (void **)&P->nums, &P->nums_cap, n + 1, sizeof(double))) return -1;
            const char *next;
            if (!gd_num_parse_short(q, P->end, &P->nums[n], &next) &&
                gd_num_parse(q, P->end, &P->nums[n], &next) != GD_NUM_OK)
                return 0;
            n++;
            count[level - 1]++;
            q = next;
            while (q < P->end && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
            if (q < P->end && *q == ',') {
                q++;
                while (q < P->end && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
                if (q >= P->end || !is_num_start(*q)) return 0;
                continue;
            }
            break;
        }
        /* close levels */
        for (;;) {
            if (q >= P->end || *q != ']') return 0;
            q++;
            level--;
            if (dims[level] < 0) dims[level] = count[level];
            else if (dims[level] != count[level]) return 0; /* ragged */
            if (level == 0) goto done;
            count[level - 1]++;
            while (q < P->end && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
            if (q < P->end && *q == ',') {
                q++;
                while (q < P->end && (*q == ' ' || *q == '\n' || *q == '\r' || *q == '\t')) q++;
                if (q >= P->end || *q != '[') return 0;
                break; /* a sibling array opens */
            }
        }
    }
done:
    if (n < GD_PACK_MIN) return 0;
    if (charge(P, COST_PACKED + (int64_t)n * (int64_t)sizeof(double)) < 0) return -1;
    if (!grow((void **)&P->doc->packed, &P->doc->cap, (size_t)P->doc->npacked + 1, sizeof(gd_packed)))
        return oom(P);
    gd_packed *pk = &P->doc->packed[P->doc->npacked];
    memset(pk, 0, sizeof *pk);
    pk->data = malloc(n * sizeof(double));
    json_t *stand_in = json_array();
    if (!pk->data || !stand_in) {
        free(pk->data);
        json_decref(stand_in);
        return oom(P);
    }
    memcpy(pk->data, P->nums, n * sizeof(double));
    pk->node = stand_in;
    pk->rank = rank;
    pk->n = (int64_t)n;
    memcpy(pk->dims, dims, (size_t)rank * sizeof *dims);
    P->doc->npacked++;
    P->p = q;
    *out = stand_in;
    return 1;
}

/* ---- values and containers ------------------------------------------- */

/* Attach v to the open container (with the pending key) or make it the
 * root. Takes v's reference. */
static int attach(parser *P, json_t *v) {
    if (P->depth == 0) {
        P->doc->root = v;
        return 0;
    }
    frame *f = &P->stack[P->depth - 1];
    if (charge(P, f->is_object ? COST_MEMBER + (int64_t)strlen(P->key) : COST_SLOT) < 0) return json_decref(v), -1;
    if (!f->is_object) return json_array_append_new(f->node, v) == 0 ? 0 : (json_decref(v), oom(P));
    return json_object_set_new_nocheck(f->node, P->key, v) == 0 ? 0 : (json_decref(v), oom(P));
}

/* The JSON pointer of the container being read: each open object's
 * current key (as written, escapes and all) and each array's index. */
static void error_path(const parser *P, char *out, size_t cap) {
    out[0] = '\0';
    for (int i = 0; i + 1 < P->depth; i++) {
        const frame *f = &P->stack[i];
        if (!f->is_object) {
            gd_path_index(out, cap, (long)json_array_size(f->node) - 1); /* the open child is the last */
            continue;
        }
        char key[GD_KEY_MAX + 1];
        size_t n = f->key_len < GD_KEY_MAX ? f->key_len : GD_KEY_MAX;
        memcpy(key, f->key, n);
        key[n] = '\0';
        gd_path_push(out, cap, key);
    }
}

/* Read a key and its ':' at P->p; rejects duplicates, long keys and NUL in
 * keys. */
static int read_key(parser *P) {
    skip_ws(P);
    if (P->p >= P->end || *P->p != '"') return syntax(P, "expected a string key");
    size_t len;
    const char *text, *key_start = P->p + 1;
    if (read_string(P, &text, &len) < 0) return -1;
    if (memchr(text, '\0', len)) return syntax(P, "a NUL character in a key");
    if (!grow((void **)&P->key, &P->key_cap, len + 1, 1)) return oom(P);
    memcpy(P->key, text, len);
    P->key[len] = '\0';
    if (len > GD_KEY_MAX)
        return gd_fail(P->e, 413, "limit_exceeded", "", "a key of %zu bytes is over the limit of %d", len, GD_KEY_MAX);
    if (json_object_get(P->stack[P->depth - 1].node, P->key)) {
        char path[2048];
        error_path(P, path, sizeof path);
        gd_path_push(path, sizeof path, P->key);
        gd_fail(P->e, 400, "duplicate_key", path, "the key \"%.100s\" appears twice in one object", P->key);
        return -1;
    }
    if (P->depth == 1 && P->top_fields && gd_field_allowed(P->key, P->top_fields, "", P->top_what, P->e) < 0)
        return -1;
    P->stack[P->depth - 1].key = key_start;
    P->stack[P->depth - 1].key_len = (size_t)(P->p - 1 - key_start);
    if (!strcmp(P->key, "parameters")) { /* a binary tensor, maybe: keep the text order */
        gd_doc *d = P->doc;
        if (!grow((void **)&d->binrefs, &d->bincap, (size_t)d->nbinrefs + 1, sizeof *d->binrefs)) return oom(P);
        d->binrefs[d->nbinrefs++] = P->stack[P->depth - 1].node;
    }
    skip_ws(P);
    if (P->p >= P->end || *P->p != ':') return syntax(P, "expected ':' after a key");
    P->p++;
    return 0;
}

/* Read one value at P->p. Sets *opened when it opened a container (now on
 * the stack, attached). */
static int read_value(parser *P, int *opened) {
    json_t *v = NULL;
    *opened = 0;
    skip_ws(P);
    if (P->p >= P->end) return syntax(P, "unexpected end of the body");
    char c = *P->p;
    if (c == '{' || c == '[') {
        if (c == '[') {
            int r = try_packed(P, &v);
            if (r < 0) return -1;
            if (r == 1) return attach(P, v);
        }
        if (P->depth >= P->max_depth)
            return gd_fail(P->e, 413, "limit_exceeded", "", "the JSON nests deeper than the limit of %d levels",
                           P->max_depth);
        if (charge(P, c == '{' ? COST_OBJECT : COST_ARRAY) < 0) return -1;
        v = c == '{' ? json_object() : json_array();
        if (!v) return oom(P);
        json_incref(v); /* one reference for the parent, one for the stack */
        if (attach(P, v) < 0) {
            json_decref(v);
            return -1;
        }
        P->stack[P->depth].node = v;
        P->stack[P->depth].is_object = c == '{';
        P->depth++;
        json_decref(v); /* the parent's reference keeps it alive */
        P->p++;
        *opened = 1;
        return 0;
    }
    if (c == '"' && P->depth > 0 && P->stack[P->depth - 1].is_object && !strcmp(P->key, "b64")) {
        /* base64: a span of the body, no scan and no copy */
        const char *q = memchr(P->p + 1, '"', (size_t)(P->end - P->p - 1));
        if (!q) return syntax(P, "an unterminated string");
        gd_doc *d = P->doc;
        if (charge(P, COST_STRING + (int64_t)sizeof *d->spans) < 0) return -1;
        if (!grow((void **)&d->spans, &d->spancap, (size_t)d->nspans + 1, sizeof *d->spans)) return oom(P);
        v = json_string("");
        if (!v) return oom(P);
        d->spans[d->nspans].node = v;
        d->spans[d->nspans].text = P->p + 1;
        d->spans[d->nspans++].len = (size_t)(q - P->p - 1);
        P->p = q + 1;
    } else if (c == '"') {
        size_t len;
        const char *text;
        if (read_string(P, &text, &len) < 0 || charge(P, COST_STRING + (int64_t)len) < 0) return -1;
        v = json_stringn_nocheck(text, len);
    } else if (is_num_start(c)) {
        if (charge(P, COST_NUMBER) < 0 || read_number(P, &v) < 0) return -1;
    } else if (P->end - P->p >= 4 && memcmp(P->p, "true", 4) == 0) {
        P->p += 4;
        v = json_true();
    } else if (P->end - P->p >= 5 && memcmp(P->p, "false", 5) == 0) {
        P->p += 5;
        v = json_false();
    } else if (P->end - P->p >= 4 && memcmp(P->p, "null", 4) == 0) {
        P->p += 4;
        v = json_null();
    } else {
        return syntax(P, "unexpected character");
    }
    if (!v) return oom(P);
    return attach(P, v);
}

/* After '{' or '[': close an empty container, or position for its first
 * value. Returns 1 when a value follows, 0 when it closed, -1 on error. */
static int open_first(parser *P) {
    frame *f = &P->stack[P->depth - 1];
    skip_ws(P);
    if (P->p < P->end && *P->p == (f->is_object ? '}' : ']')) {
        P->p++;
        P->depth--;
        return 0;
    }
    if (f->is_object && read_key(P) < 0) return -1;
    return 1;
}

static int cmp_packed(const void *a, const void *b) {
    const json_t *x = ((const gd_packed *)a)->node, *y = ((const gd_packed *)b)->node;
    return x < y ? -1 : x > y;
}

static int cmp_span(const void *a, const void *b) {
    const void *x = ((const struct gd_span *)a)->node, *y = ((const struct gd_span *)b)->node;
    return x < y ? -1 : x > y;
}

static int parse(parser *P) {
    for (;;) {
        int opened;
        if (read_value(P, &opened) < 0) return -1;
        if (opened) {
            int r = open_first(P);
            if (r < 0) return -1;
            if (r == 1) continue;
        }
        /* a value is complete: commas and closers until the next value */
        for (;;) {
            skip_ws(P);
            if (P->depth == 0) {
                if (P->p != P->end) return syntax(P, "text after the JSON value");
                return 0;
            }
            frame *f = &P->stack[P->depth - 1];
            if (P->p >= P->end) return syntax(P, "unexpected end of the body");
            if (*P->p == ',') {
                P->p++;
                if (f->is_object && read_key(P) < 0) return -1;
                break;
            }
            if (*P->p == (f->is_object ? '}' : ']')) {
                P->p++;
                P->depth--;
                continue;
            }
            return syntax(P, f->is_object ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
}

int gd_json_parse(const char *s, size_t len, const gd_json_opts *o, gd_doc *doc, gd_err *e) {
    memset(doc, 0, sizeof *doc);
    parser P = {.s = s, .end = s + len, .p = s, .doc = doc, .e = e, .max_depth = o->max_depth > 0 ? o->max_depth : 1,
                .max_bytes = o->max_bytes, .top_fields = o->top_fields, .top_what = o->top_what ? o->top_what : "",
                .cancel = o->cancel};
    P.stack = malloc((size_t)P.max_depth * sizeof *P.stack);
    int r = P.stack ? parse(&P) : oom(&P);
    free(P.stack);
    free(P.key);
    free(P.str);
    free(P.nums);
    doc->bytes = P.charged;
    if (r < 0) {
        gd_doc_free(doc);
        return -1;
    }
    if (doc->npacked > 1) qsort(doc->packed, (size_t)doc->npacked, sizeof *doc->packed, cmp_packed);
    if (doc->nspans > 1) qsort(doc->spans, (size_t)doc->nspans, sizeof *doc->spans, cmp_span);
    return 0;
}

const char *gd_doc_text(const gd_doc *d, const json_t *v, size_t *len) {
    if (!json_is_string(v)) return NULL;
    int lo = 0, hi = d->nspans - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (d->spans[mid].node == v) {
            *len = d->spans[mid].len;
            return d->spans[mid].text;
        }
        if ((const void *)d->spans[mid].node < (const void *)v) lo = mid + 1;
        else hi = mid - 1;
    }
    *len = json_string_length(v);
    return json_string_value(v);
}

const gd_packed *gd_doc_packed(const gd_doc *d, const json_t *v) {
    int lo = 0, hi = d->npacked - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        const json_t *m = d->packed[mid].node;
        if (m == v) return &d->packed[mid];
        if (m < v) lo = mid + 1;
        else hi = mid - 1;
    }
    return NULL;
}

void gd_doc_free(gd_doc *d) {
    for (int i = 0; i < d->npacked; i++) free(d->packed[i].data);
    free(d->packed);
    free(d->binrefs);
    free(d->binoff);
    free(d->spans);
    json_decref(d->root);
    memset(d, 0, sizeof *d);
}

int gd_only_fields(const json_t *obj, const char *const *allowed, const char *path, const char *what, gd_err *e) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v)
        if (gd_field_allowed(key, allowed, path, what, e) < 0) return -1;
    return 0;
}

int gd_field_allowed(const char *key, const char *const *allowed, const char *path, const char *what, gd_err *e) {
    for (const char *const *a = allowed; *a; a++)
        if (!strcmp(*a, key)) return 1;
    char p[2048], list[512] = "";
    gd_join(p, sizeof p, path, "");
    gd_path_push(p, sizeof p, key);
    for (const char *const *a = allowed; *a; a++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", a == allowed ? "" : ", ", *a);
    return gd_fail(e, 400, "unknown_field", p, "unknown field \"%.64s\" in %s; it takes %s", key, what, list);
}

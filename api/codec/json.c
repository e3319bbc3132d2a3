/* json.c -- see json.h. One pass over the text; containers are attached
 * to their parent as they open, so closing one is just a pop. */
#include "json.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json_nums.h"
#include "num.h"
#include "num_short.h"
#include "utf8.h"

typedef struct frame {
    json_t *node;
    int is_object;
    const char *key;   /* objects: the raw text of the key being read (for error paths) */
    size_t key_len;
    int recorded;      /* objects: already in cd_doc.records */
} frame;

typedef struct parser {
    const char *s, *end, *p;
    cd_doc *doc;
    cd_err *e;
    frame *stack;         /* (max_depth) open containers */
    int depth, max_depth;
    char *key;            /* pending object key (NUL-terminated) */
    size_t key_cap;
    char *str;            /* scratch for decoding strings */
    size_t str_cap;
    double *nums;         /* (nums_cap) scratch for packed arrays; a large one's becomes its block */
    size_t nums_cap;
    size_t nums_charged;  /* doubles of scratch charged to the budget: the largest scratch so far */
    int64_t charged, max_bytes;       /* estimated bytes built so far, and the budget (0: none) */
    const char *const *root_keys;     /* keys the root may have, or NULL */
    const char *const *span_keys;     /* keys whose string values stay spans of the text, or NULL */
    const char *const *record_keys;   /* keys that put their object in doc->records, or NULL */
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
    COST_PACKED = 256,        /* the stand-in array and its cd_packed record, plus 8 bytes a number */
};

/* ---- errors ---------------------------------------------------------- */

/* Fill P->e (the first error wins) with kind, the place P->p and the
 * message; returns -1. */
static int fail(parser *P, cd_err_kind kind, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parser *P, cd_err_kind kind, const char *fmt, ...) {
    cd_err *e = P->e;
    if (e->kind != CD_OK) return -1;
    e->kind = kind;
    e->offset = P->p < P->end ? (size_t)(P->p - P->s) : (size_t)(P->end - P->s);
    cd_locate(P->s, (size_t)(P->end - P->s), e->offset, &e->line, &e->column);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* Not JSON: what was found, and where. */
static int syntax(parser *P, const char *what) {
    if (P->e->kind != CD_OK) return -1;
    fail(P, CD_E_SYNTAX, "%s", what);
    size_t n = strlen(P->e->message);
    snprintf(P->e->message + n, sizeof P->e->message - n, " at line %ld, column %ld", P->e->line, P->e->column);
    return -1;
}

static int oom(parser *P) { return fail(P, CD_E_NOMEM, "out of memory reading the JSON"); }

/* 1 when key is in list (NULL-terminated; NULL is empty). */
static int in_list(const char *const *list, const char *key) {
    if (list)
        for (; *list; list++)
            if (!strcmp(*list, key)) return 1;
    return 0;
}

static void error_path(const parser *P, char *out, size_t cap);
static int grow(void **buf, size_t *cap, size_t need, size_t elem);

/* Charge n bytes to the budget before they are allocated; every 4096th
 * charge also reads the cancel flag. */
static int charge(parser *P, int64_t n) {
    P->charged += n;
    if (P->max_bytes && P->charged > P->max_bytes) {
        if (P->e->kind != CD_OK) return -1;
        fail(P, CD_E_BUDGET, "holding this JSON would take more than %lld bytes of memory, the limit for its %zu "
             "bytes of text", (long long)P->max_bytes, (size_t)(P->end - P->s));
        error_path(P, P->e->path, sizeof P->e->path);
        return -1;
    }
    if ((++P->ticks & 4095) == 0 && P->cancel && *P->cancel)
        return fail(P, CD_E_CANCELLED, "cancelled while reading the JSON");
    return 0;
}

/* grow() for the parser's scratch buffers, charging what they grow by. */
static int grow_scratch(parser *P, void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 1;
    size_t before = *cap;
    if (!grow(buf, cap, need, elem)) return oom(P), 0;
    return charge(P, (int64_t)((*cap - before) * elem)) == 0;
}

/* Charge the numbers scratch's growth to nums_cap: only past the largest
 * scratch already charged, so a scratch that replaces one a packed array
 * kept costs nothing until it outgrows it (the same total as one scratch
 * reused throughout). */
static int charge_nums(parser *P) {
    if (P->nums_cap <= P->nums_charged) return 0;
    size_t more = P->nums_cap - P->nums_charged;
    P->nums_charged = P->nums_cap;
    return charge(P, (int64_t)(more * sizeof(double)));
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
                n += cd_utf8_put(P->str + n, cp);
                break;
            }
            default: return syntax(P, "a bad escape in a string");
            }
            continue;
        }
        int k = cd_utf8_len((const unsigned char *)P->p, (const unsigned char *)P->end);
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
    cd_num_status st = cd_num_parse(P->p, P->end, &v, &next);
    if (st == CD_NUM_SYNTAX) return syntax(P, "a malformed number");
    if (st == CD_NUM_RANGE) return syntax(P, "a number beyond the float64 range");
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

struct cd_numbers {
    atomic_long refs;
    double *data;                 /* owned: freed with the last reference */
};

cd_numbers *cd_numbers_retain(cd_numbers *b) {
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void cd_numbers_release(cd_numbers *b) {
    if (!b || atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) != 1) return;
    free(b->data);
    free(b);
}

/* Give pk a block holding the n numbers at the start of P->nums: the
 * scratch itself, shrunk to them, when there are CD_ADOPT_MIN or more (a
 * new scratch grows for the next array), else a copy. 0, or -1 when out of
 * memory (nothing kept, the scratch intact). */
static int numbers_block(parser *P, size_t n, cd_packed *pk) {
    cd_numbers *b = malloc(sizeof *b);
    if (!b) return -1;
    atomic_init(&b->refs, 1);
    if (n >= CD_ADOPT_MIN) {
        double *kept = realloc(P->nums, n * sizeof(double)); /* shrinks in place */
        b->data = kept ? kept : P->nums;
        P->nums = NULL;
        P->nums_cap = 0;
    } else {
        b->data = malloc(n * sizeof(double));
        if (!b->data) {
            free(b);
            return -1;
        }
        memcpy(b->data, P->nums, n * sizeof(double));
    }
    pk->block = b;
    pk->data = b->data;
    return 0;
}

static int is_num_start(char c) { return c == '-' || (c >= '0' && c <= '9'); }

/* Try to read the array at P->p as a rectangular nest of numbers with at
 * least CD_PACK_MIN of them. Returns 1 (read, *out set), 0 (not such an
 * array: nothing consumed) or -1 (error). */
static int try_packed(parser *P, json_t **out) {
    const char *q = P->p;
    int level = 0, leaf = -1, rank = 0;
    int64_t dims[CD_MAX_RANK], count[CD_MAX_RANK + 1];
    size_t n = 0;
    for (int i = 0; i < CD_MAX_RANK; i++) dims[i] = -1;
    for (;;) {
        /* at '[' */
        if (level >= CD_MAX_RANK) return 0;
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
        if (cd_json_nums_indexed()) { /* indexed first, so numbers parse independently */
            size_t n0 = n;
            int r = cd_json_nums_run(q, P->end, &P->nums, &P->nums_cap, &n, &q);
            if (charge_nums(P) < 0) return -1;
            if (r <= 0) return r < 0 ? oom(P) : 0;
            count[level - 1] += (int64_t)(n - n0);
        } else for (;;) { /* the same, a number at a time */
            if (!grow((void **)&P->nums, &P->nums_cap, n + 1, sizeof(double))) return oom(P);
            if (charge_nums(P) < 0) return -1;
            const char *next;
            if (!cd_num_parse_short(q, P->end, &P->nums[n], &next) &&
                cd_num_parse(q, P->end, &P->nums[n], &next) != CD_NUM_OK)
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
    if (n < CD_PACK_MIN) return 0;
    if (charge(P, COST_PACKED + (int64_t)n * (int64_t)sizeof(double)) < 0) return -1;
    if (!grow((void **)&P->doc->packed, &P->doc->cap, (size_t)P->doc->npacked + 1, sizeof(cd_packed)))
        return oom(P);
    cd_packed *pk = &P->doc->packed[P->doc->npacked];
    memset(pk, 0, sizeof *pk);
    json_t *stand_in = json_array();
    if (!stand_in || numbers_block(P, n, pk) < 0) {
        json_decref(stand_in);
        return oom(P);
    }
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
            cd_path_index(out, cap, (long)json_array_size(f->node) - 1); /* the open child is the last */
            continue;
        }
        char key[CD_KEY_MAX + 1];
        size_t n = f->key_len < CD_KEY_MAX ? f->key_len : CD_KEY_MAX;
        memcpy(key, f->key, n);
        key[n] = '\0';
        cd_path_push(out, cap, key);
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
    if (len > CD_KEY_MAX) return fail(P, CD_E_KEY_LENGTH, "a key of %zu bytes is over the limit of %d", len, CD_KEY_MAX);
    frame *f = &P->stack[P->depth - 1];
    if (json_object_get(f->node, P->key)) {
        if (P->e->kind != CD_OK) return -1;
        fail(P, CD_E_DUPLICATE_KEY, "the key \"%.100s\" appears twice in one object", P->key);
        error_path(P, P->e->path, sizeof P->e->path);
        cd_path_push(P->e->path, sizeof P->e->path, P->key);
        memcpy(P->e->key, P->key, len + 1);
        return -1;
    }
    if (P->depth == 1 && P->root_keys && !in_list(P->root_keys, P->key)) {
        if (P->e->kind != CD_OK) return -1;
        fail(P, CD_E_UNKNOWN_ROOT_KEY, "the root object may not have the key \"%.64s\"", P->key);
        cd_path_push(P->e->path, sizeof P->e->path, P->key);
        memcpy(P->e->key, P->key, len + 1);
        return -1;
    }
    f->key = key_start;
    f->key_len = (size_t)(P->p - 1 - key_start);
    if (!f->recorded && in_list(P->record_keys, P->key)) { /* the caller wants this object, in text order */
        cd_doc *d = P->doc;
        if (!grow((void **)&d->records, &d->reccap, (size_t)d->nrecords + 1, sizeof *d->records)) return oom(P);
        d->records[d->nrecords++] = f->node;
        f->recorded = 1;
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
            return fail(P, CD_E_DEPTH, "the JSON nests deeper than the limit of %d levels", P->max_depth);
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
        P->stack[P->depth].recorded = 0;
        P->depth++;
        json_decref(v); /* the parent's reference keeps it alive */
        P->p++;
        *opened = 1;
        return 0;
    }
    const char *q = NULL; /* a span's closing quote */
    if (c == '"' && P->depth > 0 && P->stack[P->depth - 1].is_object && in_list(P->span_keys, P->key)) {
        q = memchr(P->p + 1, '"', (size_t)(P->end - P->p - 1));
        if (!q) return syntax(P, "an unterminated string");
        /* With an escape in it, the first quote may be an escaped one and
         * the text is not the value ("\/" is how some encoders write a
         * base64 '/'): the string is read and decoded as any other. */
        if (memchr(P->p + 1, '\\', (size_t)(q - P->p - 1))) q = NULL;
    }
    if (q) {
        /* a span of the text, no decoding and no copy */
        cd_doc *d = P->doc;
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
    const json_t *x = ((const cd_packed *)a)->node, *y = ((const cd_packed *)b)->node;
    return x < y ? -1 : x > y;
}

static int cmp_span(const void *a, const void *b) {
    const void *x = ((const cd_span *)a)->node, *y = ((const cd_span *)b)->node;
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

int cd_json_parse(const char *s, size_t len, const cd_json_opts *o, cd_doc *doc, cd_err *e) {
    memset(doc, 0, sizeof *doc);
    e->kind = CD_OK;
    e->offset = 0;
    e->line = e->column = 0;
    e->path[0] = e->key[0] = e->message[0] = '\0';
    parser P = {.s = s, .end = s + len, .p = s, .doc = doc, .e = e, .max_depth = o->max_depth > 0 ? o->max_depth : 1,
                .max_bytes = o->max_bytes, .root_keys = o->root_keys, .span_keys = o->span_keys,
                .record_keys = o->record_keys, .cancel = o->cancel};
    P.stack = malloc((size_t)P.max_depth * sizeof *P.stack);
    int r = P.stack ? parse(&P) : oom(&P);
    free(P.stack);
    free(P.key);
    free(P.str);
    free(P.nums);
    doc->bytes = P.charged;
    if (r < 0) {
        cd_doc_free(doc);
        return -1;
    }
    if (doc->npacked > 1) qsort(doc->packed, (size_t)doc->npacked, sizeof *doc->packed, cmp_packed);
    if (doc->nspans > 1) qsort(doc->spans, (size_t)doc->nspans, sizeof *doc->spans, cmp_span);
    return 0;
}

const char *cd_doc_text(const cd_doc *d, const json_t *v, size_t *len) {
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

const cd_packed *cd_doc_packed(const cd_doc *d, const json_t *v) {
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

void cd_doc_free(cd_doc *d) {
    for (int i = 0; i < d->npacked; i++) cd_numbers_release(d->packed[i].block);
    free(d->packed);
    free(d->records);
    free(d->spans);
    json_decref(d->root);
    memset(d, 0, sizeof *d);
}

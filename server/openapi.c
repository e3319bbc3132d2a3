/* openapi.c -- see openapi.h. libyaml's event parser drives an explicit
 * stack of open containers, as api/codec/json.c does for JSON: a container is
 * attached to its parent as it opens, so closing one is just a pop, and
 * the value under construction is always reachable from the root (one
 * json_decref frees everything on an error). */
#include "openapi.h"

#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "codec/num.h"

#if JSON_INTEGER_IS_LONG_LONG
#define JINT_MAX LLONG_MAX
#else
#define JINT_MAX LONG_MAX
#endif

#define CORE "tag:yaml.org,2002:"

typedef struct frame {
    json_t *node;   /* the open object or array; its parent (or the root) owns it */
    char *key;      /* object: the key whose value comes next, or NULL when a key comes next */
} frame;

typedef struct conv {
    frame *stack;   /* (cap) open containers, innermost last */
    int depth, cap;
    json_t *root;
    int ndocs;
    char *err;
    size_t errcap;
    int failed;
} conv;

/* ---- errors ---------------------------------------------------------- */

/* Record the first error, at mark m (NULL: no position); returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(conv *C, const yaml_mark_t *m, const char *fmt, ...) {
    if (C->failed) return -1;
    C->failed = 1;
    if (!C->err || C->errcap == 0) return -1;
    size_t n = 0;
    if (m) {
        int k = snprintf(C->err, C->errcap, "line %zu, column %zu: ", m->line + 1, m->column + 1);
        n = k < 0 ? 0 : (size_t)k < C->errcap ? (size_t)k : C->errcap - 1;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(C->err + n, C->errcap - n, fmt, ap);
    va_end(ap);
    return -1;
}

static int parser_error(conv *C, const yaml_parser_t *p) {
    if (p->error == YAML_MEMORY_ERROR) return fail(C, NULL, "out of memory reading the YAML");
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) /* bad bytes: libyaml knows the offset only */
        return fail(C, NULL, "%s at byte %zu", problem, p->problem_offset);
    if (p->context)
        return fail(C, &p->problem_mark, "%s (%s at line %zu, column %zu)", problem, p->context,
                    p->context_mark.line + 1, p->context_mark.column + 1);
    return fail(C, &p->problem_mark, "%s", problem);
}

/* ---- plain scalars: the YAML 1.2 core schema ------------------------- */

typedef enum kind { K_ANY, K_STR, K_NULL, K_BOOL, K_INT, K_FLOAT } kind;

static int is_dec(char c) { return c >= '0' && c <= '9'; }
static int hex_val(char c) {
    return is_dec(c) ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static int is_one_of(const char *s, size_t n, const char *const *words) {
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(*words, s, n) == 0) return 1;
    return 0;
}

/* 1 when s[0..n) is [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_float_text(const char *s, size_t n) {
    size_t i = 0, d1 = 0, d2 = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) i++;
    while (i < n && is_dec(s[i])) i++, d1++;
    if (i < n && s[i] == '.')
        for (i++; i < n && is_dec(s[i]); i++) d2++;
    if (d1 == 0 && d2 == 0) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t d3 = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-')) i++;
        while (i < n && is_dec(s[i])) i++, d3++;
        if (d3 == 0) return 0;
    }
    return i == n;
}

/* Read float text (is_float_text) as a double, correctly rounded, through
 * the API's JSON number parser: the text is first rewritten in JSON's
 * grammar (no '+', no leading zeros, digits on both sides of the point). */
static json_t *float_value(conv *C, const yaml_mark_t *m, const char *s, size_t n) {
    char *t = malloc(n + 3), *o = t;
    if (!t) return fail(C, m, "out of memory"), NULL;
    size_t i = 0;
    if (s[i] == '+' || s[i] == '-') {
        if (s[i] == '-') *o++ = '-';
        i++;
    }
    size_t start = i;
    while (i < n && is_dec(s[i])) i++;
    size_t z = start;
    while (z + 1 < i && s[z] == '0') z++;
    if (i == start) *o++ = '0';
    memcpy(o, s + z, i - z);
    o += i - z;
    if (i < n && s[i] == '.') {
        size_t fs = ++i;
        while (i < n && is_dec(s[i])) i++;
        if (i > fs) {
            *o++ = '.';
            memcpy(o, s + fs, i - fs);
            o += i - fs;
        }
    }
    memcpy(o, s + i, n - i); /* the exponent, already in JSON's grammar */
    o += n - i;
    double d;
    const char *next;
    cd_num_status st = cd_num_parse(t, o, &d, &next);
    int whole = next == o;
    free(t);
    if (st == CD_NUM_RANGE) return fail(C, m, "the number %.*s is beyond the range of a double", (int)(n < 64 ? n : 64), s), NULL;
    if (st != CD_NUM_OK || !whole) return fail(C, m, "cannot read the number %.*s", (int)(n < 64 ? n : 64), s), NULL;
    json_t *v = json_real(d);
    if (!v) fail(C, m, "out of memory");
    return v;
}

/* An integer in base 10 (with an optional sign), 8 (0o) or 16 (0x), or
 * NULL with *is_int 0 when s is not one. A decimal beyond json_int_t is a
 * real; an octal or hex one is an error. */
static json_t *int_value(conv *C, const yaml_mark_t *m, const char *s, size_t n, int *is_int) {
    int base = 10, neg = 0;
    size_t i = 0;
    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x')) {
        base = s[1] == 'o' ? 8 : 16;
        i = 2;
    } else if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n) return *is_int = 0, NULL;
    for (size_t k = i; k < n; k++) {
        int d = hex_val(s[k]);
        if (d < 0 || d >= base) return *is_int = 0, NULL;
    }
    *is_int = 1;
    uint64_t limit = (uint64_t)JINT_MAX + (uint64_t)neg, v = 0;
    for (; i < n; i++) {
        uint64_t d = (uint64_t)hex_val(s[i]);
        if (v > (limit - d) / (uint64_t)base) {
            if (base == 10) return float_value(C, m, s, n);
            return fail(C, m, "the integer %.*s does not fit in 64 bits", (int)(n < 64 ? n : 64), s), NULL;
        }
        v = v * (uint64_t)base + d;
    }
    json_int_t x = neg ? (v == (uint64_t)JINT_MAX + 1 ? -JINT_MAX - 1 : -(json_int_t)v) : (json_int_t)v;
    json_t *j = json_integer(x);
    if (!j) fail(C, m, "out of memory");
    return j;
}

/* The value of a plain scalar s[0..n) as the core schema resolves it;
 * *got is the kind it resolved to. */
static json_t *plain_value(conv *C, const yaml_mark_t *m, const char *s, size_t n, kind *got) {
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    static const char *const nonfinite[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf",
                                            "-.INF", ".nan", ".NaN", ".NAN", NULL};
    json_t *v;
    if (n == 0 || is_one_of(s, n, nulls)) {
        *got = K_NULL;
        v = json_null();
    } else if (is_one_of(s, n, trues) || is_one_of(s, n, falses)) {
        *got = K_BOOL;
        v = json_boolean(is_one_of(s, n, trues));
    } else if (is_one_of(s, n, nonfinite)) {
        return fail(C, m, "%.*s is not a number JSON can hold", (int)n, s), NULL;
    } else {
        int is_int;
        *got = K_INT;
        v = int_value(C, m, s, n, &is_int);
        if (is_int || C->failed) return v;
        if (is_float_text(s, n)) {
            *got = K_FLOAT;
            return float_value(C, m, s, n);
        }
        *got = K_STR;
        v = json_stringn(s, n);
    }
    if (!v) fail(C, m, "out of memory");
    return v;
}

/* ---- events ---------------------------------------------------------- */

static json_t *scalar_value(conv *C, const yaml_event_t *ev) {
    const char *s = (const char *)ev->data.scalar.value, *tag = (const char *)ev->data.scalar.tag;
    size_t n = ev->data.scalar.length;
    const yaml_mark_t *m = &ev->start_mark;
    static const struct {
        const char *tag;
        kind k;
    } tags[] = {{"!", K_STR},           {CORE "str", K_STR},    {CORE "null", K_NULL},
                {CORE "bool", K_BOOL}, {CORE "int", K_INT}, {CORE "float", K_FLOAT}};
    kind want = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? K_ANY : K_STR;
    if (tag) {
        size_t i = 0;
        while (i < sizeof tags / sizeof tags[0] && strcmp(tags[i].tag, tag)) i++;
        if (i == sizeof tags / sizeof tags[0]) return fail(C, m, "the tag %.64s is not supported", tag), NULL;
        want = tags[i].k;
    }
    if (want == K_STR) {
        json_t *v = json_stringn(s, n);
        if (!v) fail(C, m, "out of memory");
        return v;
    }
    kind got;
    json_t *v = plain_value(C, m, s, n, &got);
    if (!v || want == K_ANY || want == got) return v;
    if (want == K_FLOAT && got == K_INT) { /* !!float 1 is the real 1.0 */
        json_t *r = json_real((double)json_integer_value(v));
        json_decref(v);
        if (!r) fail(C, m, "out of memory");
        return r;
    }
    json_decref(v);
    return fail(C, m, "%.*s does not fit its tag %s", (int)(n < 64 ? n : 64), s, tag), NULL;
}

/* Put v (a new reference, or NULL after a failure) into the innermost
 * container, or make it the root. Takes v's reference. */
static int attach(conv *C, json_t *v, const yaml_mark_t *m) {
    if (!v) return -1;
    if (C->depth == 0) {
        C->root = v;
        return 0;
    }
    frame *f = &C->stack[C->depth - 1];
    if (json_is_array(f->node)) return json_array_append_new(f->node, v) ? fail(C, m, "out of memory") : 0;
    int rc = json_object_set_new_nocheck(f->node, f->key, v);
    free(f->key);
    f->key = NULL;
    return rc ? fail(C, m, "out of memory") : 0;
}

/* A scalar in key position: remember it for the value that follows. */
static int take_key(conv *C, const yaml_event_t *ev) {
    frame *f = &C->stack[C->depth - 1];
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    if (strlen(s) != n) return fail(C, &ev->start_mark, "a key holds a NUL character");
    if (json_object_get(f->node, s))
        return fail(C, &ev->start_mark, "the key \"%.64s\" appears twice in one mapping", s);
    f->key = malloc(n + 1);
    if (!f->key) return fail(C, &ev->start_mark, "out of memory");
    memcpy(f->key, s, n + 1);
    return 0;
}

/* Open a mapping or sequence: attach it and push it. */
static int open_container(conv *C, const yaml_event_t *ev, int mapping) {
    const char *tag = (const char *)(mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    if (tag && strcmp(tag, "!") && strcmp(tag, mapping ? CORE "map" : CORE "seq"))
        return fail(C, &ev->start_mark, "the tag %.64s is not supported", tag);
    if (C->depth == C->cap) {
        int cap = C->cap ? C->cap * 2 : 16;
        frame *ns = realloc(C->stack, (size_t)cap * sizeof *ns);
        if (!ns) return fail(C, &ev->start_mark, "out of memory");
        C->stack = ns;
        C->cap = cap;
    }
    json_t *v = mapping ? json_object() : json_array();
    if (!v) return fail(C, &ev->start_mark, "out of memory");
    if (attach(C, v, &ev->start_mark) < 0) return -1;
    C->stack[C->depth].node = v;
    C->stack[C->depth].key = NULL;
    C->depth++;
    return 0;
}

/* One event; returns 1 at the end of the stream, 0 to go on, -1 on error. */
static int on_event(conv *C, const yaml_event_t *ev) {
    const frame *top = C->depth ? &C->stack[C->depth - 1] : NULL;
    int key_next = top && json_is_object(top->node) && !top->key;
    const yaml_char_t *anchor = ev->type == YAML_SCALAR_EVENT           ? ev->data.scalar.anchor
                                : ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
                                : ev->type == YAML_MAPPING_START_EVENT  ? ev->data.mapping_start.anchor
                                                                        : NULL;
    if (anchor || ev->type == YAML_ALIAS_EVENT)
        return fail(C, &ev->start_mark, "anchors and aliases are not supported");
    switch (ev->type) {
    case YAML_STREAM_END_EVENT: return 1;
    case YAML_DOCUMENT_START_EVENT:
        if (C->ndocs++) return fail(C, &ev->start_mark, "the text holds more than one YAML document");
        return 0;
    case YAML_SCALAR_EVENT:
        if (key_next) return take_key(C, ev);
        return attach(C, scalar_value(C, ev), &ev->start_mark);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        if (key_next) return fail(C, &ev->start_mark, "a key must be a scalar");
        return open_container(C, ev, ev->type == YAML_MAPPING_START_EVENT);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        C->depth--;
        free(C->stack[C->depth].key); /* NULL: libyaml gives every key a value */
        C->stack[C->depth].key = NULL;
        return 0;
    default: /* stream start, document end */
        return 0;
    }
}

json_t *srv_openapi_json(const char *yaml_text, size_t len, char *err, size_t errcap) {
    conv C = {.err = err, .errcap = errcap};
    if (err && errcap) err[0] = '\0';
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fail(&C, NULL, "out of memory");
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)(yaml_text ? yaml_text : ""), yaml_text ? len : 0);
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            parser_error(&C, &p);
            break;
        }
        int r = on_event(&C, &ev);
        yaml_event_delete(&ev);
        if (r != 0) break;
    }
    if (!C.failed && !C.root) fail(&C, NULL, "the text holds no YAML document");
    for (int i = 0; i < C.depth; i++) free(C.stack[i].key);
    free(C.stack);
    yaml_parser_delete(&p);
    if (C.failed) {
        json_decref(C.root);
        return NULL;
    }
    return C.root;
}

json_t *srv_openapi_load(const char *path, char *err, size_t errcap) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n = 0, cap = 0;
    int ok = f != NULL;
    while (ok) {
        if (n + 65536 > cap) {
            cap = cap ? cap * 2 : 65536;
            char *nt = realloc(text, cap);
            if (!nt) { /* not half a description: none */
                ok = 0;
                break;
            }
            text = nt;
        }
        size_t got = fread(text + n, 1, cap - n, f);
        n += got;
        if (!got) break;
    }
    if (f) fclose(f);
    json_t *j = ok ? srv_openapi_json(text, n, err, errcap) : NULL;
    if (!ok && err && errcap) snprintf(err, errcap, "%s", f ? "out of memory reading it" : "cannot read it");
    free(text);
    return j;
}

/* attrs.c -- see attrs.h. A value becomes typed in two steps: the
 * spelling (a JSON value or an expression literal) is read into a
 * gr_attr_value of the row's type, then lib's gr_attr_check applies the
 * range rule. Both spellings share the messages and the error rows. */
#include "attrs.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest source text quoted in a message. */

/* What a value of each type looks like, for messages. */
static const char *wanted(gr_attr_type t) {
    switch (t) {
    case GR_ATTR_INT: return "an integer";
    case GR_ATTR_INTS: return "a list of integers such as [0, 1]";
    case GR_ATTR_BOOL: return "true or false";
    case GR_ATTR_NUMBER: return "a number";
    case GR_ATTR_STRING: return "a string such as 'mean'";
    }
    return "a value";
}

/* Fill err (row code, list entry, source position) and return -1. */
static int fail(gd_attr_error *err, gd_code code, long entry, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static int fail(gd_attr_error *err, gd_code code, long entry, size_t pos, const char *fmt, ...) {
    err->code = code;
    err->entry = entry;
    err->pos = pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- the attribute an op takes ---------------------------------------- */

const gr_attr_def *gd_attr_find(const gr_op *op, const char *name, size_t len, gd_attr_error *err) {
    char key[GR_NAME_MAX];
    int id = -1;
    if (len < sizeof key) {
        memcpy(key, name, len);
        key[len] = '\0';
        id = gr_attr_lookup(key);
    }
    gr_attr_mask mask = gr_op_attrs(op);
    if (id >= 0 && (mask & GR_ATTR_BIT(id))) return gr_attr_def_of((gr_attr_id)id);
    char takes[160];
    size_t k = (size_t)snprintf(takes, sizeof takes, "it takes %s", mask ? "" : "none");
    for (int i = 0; i < GR_ATTR_COUNT && k < sizeof takes; i++)
        if (mask & GR_ATTR_BIT(i)) {
            mask &= ~GR_ATTR_BIT(i);
            k += (size_t)snprintf(takes + k, sizeof takes - k, "%s%s", gr_attr_name((gr_attr_id)i), mask ? ", " : "");
        }
    char quoted[GD_QUOTE_CAP];
    gd_quote(name, len, '\'', quoted, sizeof quoted);
    return fail(err, GD_E_UNKNOWN_ATTRIBUTE, -1, 0, "%s has no attribute %s (%s)", gr_op_name(op), quoted, takes), NULL;
}

void gd_quote(const char *s, size_t n, char mark, char *buf, size_t cap) {
    static const char hex[] = "0123456789abcdef";
    size_t k = 0, shown = n > GD_QUOTE_MAX ? GD_QUOTE_MAX : n;
    if (cap < GD_QUOTE_CAP) { /* callers size buf with GD_QUOTE_CAP */
        if (cap) buf[0] = '\0';
        return;
    }
    buf[k++] = mark;
    for (size_t i = 0; i < shown; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f) {
            buf[k++] = (char)c;
        } else {
            buf[k++] = '\\';
            buf[k++] = 'x';
            buf[k++] = hex[c >> 4];
            buf[k++] = hex[c & 15];
        }
    }
    if (n > shown) buf[k++] = '.', buf[k++] = '.', buf[k++] = '.';
    buf[k++] = mark;
    buf[k] = '\0';
}

/* ---- the long form: a JSON value --------------------------------------- */

/* v for "found ...": its text when short, else its kind. */
static void json_found(const json_t *v, int packed, char *buf, size_t cap) {
    if (json_is_string(v)) {
        gd_quote(json_string_value(v), json_string_length(v), '"', buf, cap);
    } else if (json_is_integer(v)) snprintf(buf, cap, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v)) snprintf(buf, cap, "%.17g", json_real_value(v));
    else if (json_is_true(v)) snprintf(buf, cap, "true");
    else if (json_is_false(v)) snprintf(buf, cap, "false");
    else if (json_is_null(v)) snprintf(buf, cap, "null");
    else if (json_is_array(v)) snprintf(buf, cap, packed ? "a long list" : "a list");
    else snprintf(buf, cap, "an object");
}

/* An integer of the long form into *x: 1, 0 (not an integer) or -1 (a
 * whole number beyond int64, which the JSON reader leaves a real). */
static int json_int(const json_t *v, int64_t *x) {
    if (json_is_integer(v)) {
        *x = json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double f = json_real_value(v);
        if (f == floor(f) && (f >= 0x1p63 || f < -0x1p63)) return -1;
    }
    return 0;
}

static int read_json(const gr_op *op, const gr_attr_def *d, const json_t *v, int packed, gr_attr_value *out,
                     gd_attr_error *err) {
    char found[GD_QUOTE_CAP + 16];
    int r = 1;
    switch (d->type) {
    case GR_ATTR_INT: r = json_int(v, &out->i); break;
    case GR_ATTR_BOOL:
        r = json_is_boolean(v);
        out->i = json_is_true(v);
        break;
    case GR_ATTR_NUMBER: /* ProtoJSON's "Infinity" and "-Infinity" for the rows that allow them */
        r = json_is_number(v) || (json_is_string(v) && (!strcmp(json_string_value(v), "Infinity") ||
                                                        !strcmp(json_string_value(v), "-Infinity")));
        out->f = json_is_string(v) ? (json_string_value(v)[0] == '-' ? -INFINITY : INFINITY) : json_number_value(v);
        break;
    case GR_ATTR_STRING:
        r = json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v); /* no NUL inside */
        if (r && json_string_length(v) >= GR_ATTR_STR_MAX)
            return fail(err, GD_E_INVALID_ARGUMENT, -1, 0, "attribute '%s' is %zu bytes long, at most %d", d->name,
                        json_string_length(v), GR_ATTR_STR_MAX - 1);
        if (r) memcpy(out->str, json_string_value(v), json_string_length(v) + 1);
        break;
    case GR_ATTR_INTS:
        r = json_is_array(v) && !packed;
        if (r && json_array_size(v) > GR_MAX_RANK)
            return fail(err, GD_E_INVALID_REQUEST, -1, 0, "'%s' has more than %d entries", d->name, GR_MAX_RANK);
        for (size_t k = 0; r && k < json_array_size(v); k++) {
            const json_t *x = json_array_get(v, k);
            int e = json_int(x, &out->ints[k]);
            if (e < 0)
                return fail(err, GD_E_INVALID_ARGUMENT, -1, 0, "the integer %.0f is out of range for attribute '%s'",
                            json_real_value(x), d->name);
            if (e == 0) {
                json_found(x, 0, found, sizeof found);
                return fail(err, GD_E_INVALID_REQUEST, (long)k, 0, "the entries of '%s' are integers, found %s",
                            d->name, found);
            }
        }
        out->n = r ? (int)json_array_size(v) : 0;
        break;
    }
    if (r < 0)
        return fail(err, GD_E_INVALID_ARGUMENT, -1, 0, "the integer %.0f is out of range for attribute '%s'",
                    json_real_value(v), d->name);
    if (r == 0) {
        json_found(v, packed, found, sizeof found);
        return fail(err, GD_E_INVALID_REQUEST, -1, 0, "attribute '%s' of %s takes %s, found %s", d->name,
                    gr_op_name(op), wanted(d->type), found);
    }
    return 0;
}

/* ---- an expression: a literal ------------------------------------------ */

/* src[pos, end) quoted for a message ("the end" when empty). */
static void lit_found(const char *src, size_t pos, size_t end, char *buf, size_t cap) {
    if (end == pos) snprintf(buf, cap, "the end");
    else gd_quote(src + pos, end - pos, '\'', buf, cap);
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* A signed integer literal src[pos, end) into *x: 1, 0 (not digits only)
 * or -1 (beyond int64). Spaces may follow the sign. */
static int lit_int(const char *src, size_t pos, size_t end, int64_t *x) {
    int neg = 0;
    if (pos < end && (src[pos] == '-' || src[pos] == '+')) {
        neg = src[pos++] == '-';
        while (pos < end && (src[pos] == ' ' || src[pos] == '\t' || src[pos] == '\n' || src[pos] == '\r')) pos++;
    }
    if (pos == end) return 0;
    uint64_t v = 0, max = (uint64_t)INT64_MAX + (neg ? 1u : 0u);
    int over = 0;
    for (size_t i = pos; i < end; i++) {
        if (!is_digit(src[i])) return 0;
        unsigned d = (unsigned)(src[i] - '0');
        if (over || v > (max - d) / 10) over = 1;
        else v = v * 10 + d;
    }
    if (over) return -1;
    *x = neg ? (v == (uint64_t)INT64_MAX + 1u ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 1;
}

/* A signed number literal src[pos, end) into *x: 1 or 0 (not a number).
 * A value beyond the double range becomes an infinity (refused by the
 * range rule). */
/* A number literal, or inf / -inf / +inf (only a row that allows
 * non-finite numbers takes them: the range rule decides). */
static int lit_number(const char *src, size_t pos, size_t end, double *x) {
    char buf[128];
    size_t j = 0;
    size_t sign = pos < end && (src[pos] == '-' || src[pos] == '+');
    if (end - pos == sign + 3 && !memcmp(src + pos + sign, "inf", 3)) {
        *x = src[pos] == '-' ? -INFINITY : INFINITY;
        return 1;
    }
    for (size_t i = pos; i < end; i++) {
        char c = src[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
        if (!is_digit(c) && c != '.' && c != 'e' && c != 'E' && c != '+' && c != '-') return 0;
        if (j + 1 >= sizeof buf) return 0;
        buf[j++] = c;
    }
    buf[j] = '\0';
    if (j == 0 || !(is_digit(buf[j - 1]) || buf[j - 1] == '.')) return 0;
    char *stop;
    *x = strtod(buf, &stop);
    return *stop == '\0' && stop != buf;
}

static int read_lit(const gr_op *op, const gr_attr_def *d, const gd_attr_lit *l, gr_attr_value *out,
                    gd_attr_error *err) {
    char found[GD_QUOTE_CAP + 16];
    const char *s = l->src;
    size_t n = l->end - l->pos;
    int r = 0;
    if (l->list != (d->type == GR_ATTR_INTS)) {
        size_t end = l->list ? l->pos + 1 : l->end; /* a list shows its '[' */
        lit_found(s, l->pos, end, found, sizeof found);
        return fail(err, GD_E_INVALID_REQUEST, -1, l->pos, "attribute '%s' of %s takes %s, found %s", d->name,
                    gr_op_name(op), wanted(d->type), found);
    }
    switch (d->type) {
    case GR_ATTR_INT: r = lit_int(s, l->pos, l->end, &out->i); break;
    case GR_ATTR_BOOL:
        r = (n == 4 && !memcmp(s + l->pos, "true", 4)) || (n == 1 && s[l->pos] == '1');
        out->i = r;
        if (!r) r = (n == 5 && !memcmp(s + l->pos, "false", 5)) || (n == 1 && s[l->pos] == '0');
        break;
    case GR_ATTR_NUMBER: r = lit_number(s, l->pos, l->end, &out->f); break;
    case GR_ATTR_STRING:
        r = n >= 2 && (s[l->pos] == '\'' || s[l->pos] == '"') && s[l->end - 1] == s[l->pos];
        if (r && n - 2 >= GR_ATTR_STR_MAX)
            return fail(err, GD_E_INVALID_ARGUMENT, -1, l->pos, "attribute '%s' is %zu bytes long, at most %d",
                        d->name, n - 2, GR_ATTR_STR_MAX - 1);
        if (r) {
            memcpy(out->str, s + l->pos + 1, n - 2);
            out->str[n - 2] = '\0';
        }
        break;
    case GR_ATTR_INTS:
        for (int k = 0; k < l->n && k <= GR_MAX_RANK; k++) {
            if (k == GR_MAX_RANK)
                return fail(err, GD_E_INVALID_REQUEST, k, l->entry_pos[k], "'%s' has more than %d entries", d->name,
                            GR_MAX_RANK);
            int e = lit_int(s, l->entry_pos[k], l->entry_end[k], &out->ints[k]);
            lit_found(s, l->entry_pos[k], l->entry_end[k], found, sizeof found);
            if (e < 0)
                return fail(err, GD_E_INVALID_ARGUMENT, -1, l->entry_pos[k],
                            "the integer %s is out of range for attribute '%s'", found, d->name);
            if (e == 0)
                return fail(err, GD_E_INVALID_REQUEST, k, l->entry_pos[k], "the entries of '%s' are integers, found %s",
                            d->name, found);
        }
        out->n = l->n;
        return 0;
    }
    lit_found(s, l->pos, l->end, found, sizeof found);
    if (r < 0)
        return fail(err, GD_E_INVALID_ARGUMENT, -1, l->pos, "the integer %s is out of range for attribute '%s'", found,
                    d->name);
    if (r == 0)
        return fail(err, GD_E_INVALID_REQUEST, -1, l->pos, "attribute '%s' of %s takes %s, found %s", d->name,
                    gr_op_name(op), wanted(d->type), found);
    return 0;
}

/* ---- the reader -------------------------------------------------------- */

int gd_attr_read(const gr_op *op, const gr_attr_def *d, const gd_attr_src *src, gr_attr_value *out,
                 gd_attr_error *err) {
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    err->entry = -1;
    out->type = d->type;
    int rc = src->json ? read_json(op, d, src->json, src->json_packed, out, err)
                       : src->lit ? read_lit(op, d, src->lit, out, err)
                                  : fail(err, GD_E_INVALID_REQUEST, -1, 0, "attribute '%s' has no value", d->name);
    if (rc < 0) return -1;
    gr_error ge;
    if (gr_attr_check(d, out, &ge) != GR_OK)
        return fail(err, GD_E_INVALID_ARGUMENT, -1, src->lit ? src->lit->pos : 0, "%s", ge.message);
    return 0;
}

/* ---- the writer -------------------------------------------------------- */

void gd_attr_write(cd_buf *b, const gr_attr_value *v) {
    switch (v->type) {
    case GR_ATTR_INT: cd_buf_i64(b, v->i); break;
    case GR_ATTR_BOOL: cd_buf_puts(b, v->i ? "true" : "false"); break;
    case GR_ATTR_NUMBER: cd_buf_f64(b, v->f); break;
    case GR_ATTR_STRING: cd_buf_str(b, v->str); break;
    case GR_ATTR_INTS:
        cd_buf_putc(b, '[');
        for (int k = 0; k < v->n && k < GR_MAX_RANK; k++) {
            if (k) cd_buf_putc(b, ',');
            cd_buf_i64(b, v->ints[k]);
        }
        cd_buf_putc(b, ']');
        break;
    }
}

void gd_attrs_write(cd_buf *b, const gr_attrs *a) {
    int first = 1;
    cd_buf_putc(b, '{');
    for (int id = 0; id < GR_ATTR_COUNT; id++) {
        const gr_attr_def *d = gr_attr_def_of((gr_attr_id)id);
        gr_attr_value v;
        if (!gr_attrs_get(a, d, &v)) continue;
        cd_buf_key(b, d->name, first);
        first = 0;
        gd_attr_write(b, &v);
    }
    cd_buf_putc(b, '}');
}

void gd_attr_write_info(cd_buf *b, const gr_attr_def *d, int required) {
    cd_buf_puts(b, "{\"name\":");
    cd_buf_str(b, d->name);
    cd_buf_puts(b, ",\"type\":");
    cd_buf_str(b, gr_attr_type_name(d->type));
    cd_buf_puts(b, ",\"required\":");
    cd_buf_puts(b, required ? "true" : "false");
    if (d->type == GR_ATTR_INT || d->type == GR_ATTR_INTS) {
        cd_buf_puts(b, ",\"minimum\":");
        cd_buf_i64(b, d->min);
        cd_buf_puts(b, ",\"maximum\":");
        cd_buf_i64(b, d->max);
    }
    if (d->type == GR_ATTR_INTS) {
        cd_buf_puts(b, ",\"max_items\":");
        cd_buf_i64(b, GR_MAX_RANK);
    }
    if (d->type == GR_ATTR_STRING) {
        cd_buf_puts(b, ",\"max_length\":");
        cd_buf_i64(b, d->max < GR_ATTR_STR_MAX - 1 ? d->max : GR_ATTR_STR_MAX - 1);
    }
    if (d->type == GR_ATTR_STRING && d->choices) {
        cd_buf_puts(b, ",\"enum\":[");
        for (int i = 0; d->choices[i]; i++) {
            if (i) cd_buf_putc(b, ',');
            cd_buf_str(b, d->choices[i]);
        }
        cd_buf_putc(b, ']');
    }
    cd_buf_puts(b, ",\"default\":");
    cd_buf_puts(b, d->def ? d->def : "null");
    cd_buf_puts(b, ",\"description\":");
    cd_buf_str(b, d->doc ? d->doc : "");
    cd_buf_putc(b, '}');
}

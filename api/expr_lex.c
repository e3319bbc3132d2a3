/* expr_lex.c -- the expression language's lexer (one token on demand:
 * numbers, names, strings, operators, brackets) and its error messages,
 * which name the line and column and quote what was found. */
#include "expr_impl.h"

#include "attrs.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- errors ---------------------------------------------------------- */

/* "column 7" for pos, or "line 2, column 3" when a newline precedes it. */
static void where(const parser *p, size_t pos, char *buf, size_t cap) {
    size_t line = 1, start = 0;
    for (size_t i = 0; i < pos && i < p->len; i++)
        if (p->src[i] == '\n') {
            line++;
            start = i + 1;
        }
    if (line == 1) snprintf(buf, cap, "column %zu", pos + 1);
    else snprintf(buf, cap, "line %zu, column %zu", line, pos - start + 1);
}

/* Record the error "at column N: <fmt>" at byte pos, of kind fault (0,
 * a syntax error, or 1, a limit, or another gd_expr_fault). Returns -1,
 * the failure value of every parse function. */
int gd_xp_fail(parser *p, size_t pos, int fault, const char *fmt, ...) {
    char at[64];
    where(p, pos, at, sizeof at);
    gd_expr_error *e = p->err;
    e->pos = pos;
    e->fault = (gd_expr_fault)fault;
    e->limit = fault == GD_EXPR_LIMIT;
    int k = snprintf(e->message, sizeof e->message, "at %s: ", at);
    if (k < 0 || (size_t)k >= sizeof e->message) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message + k, sizeof e->message - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

/* src[pos, end) quoted for a message (gd_quote). */
void gd_xp_quote(const parser *p, size_t pos, size_t end, char *buf, size_t cap) {
    gd_quote(p->src + pos, end - pos, '\'', buf, cap);
}

/* What t is, for "found ...": "the end" or its text in quotes. */
static void describe(const parser *p, const tok *t, char *buf, size_t cap) {
    if (t->kind == T_END) snprintf(buf, cap, "the end");
    else gd_xp_quote(p, t->pos, t->end, buf, cap);
}

/* "<what>, found <the current token>" at the current token. */
NOINLINE int gd_xp_fail_found(parser *p, const char *what) {
    char found[GD_QUOTE_CAP];
    describe(p, &p->cur, found, sizeof found);
    return gd_xp_fail(p, p->cur.pos, 0, "%s, found %s", what, found);
}


/* The current token should have closed what opened at byte open (a
 * parenthesis, the call of name, the list of attribute name): "missing ')'
 * to close the call of sum at column 1" at the end, else "expected
 * <expected> to close ..., found 'y'". */
NOINLINE int gd_xp_unclosed(parser *p, const char *expected, opener kind, const char *name, size_t open) {
    char at[64], what[96], found[GD_QUOTE_CAP];
    where(p, open, at, sizeof at);
    if (kind == OPEN_GROUP) snprintf(what, sizeof what, "the '(' at %s", at);
    else if (kind == OPEN_CALL) snprintf(what, sizeof what, "the call of %s at %s", name, at);
    else if (kind == OPEN_INDEX) snprintf(what, sizeof what, "the index '[' at %s", at);
    else snprintf(what, sizeof what, "the list '%s' at %s", name, at);
    if (p->cur.kind == T_END)
        return gd_xp_fail(p, p->cur.pos, 0, "missing '%c' to close %s", kind == OPEN_LIST || kind == OPEN_INDEX ? ']' : ')', what);
    describe(p, &p->cur, found, sizeof found);
    return gd_xp_fail(p, p->cur.pos, 0, "expected %s to close %s, found %s", expected, what, found);
}

/* ---- lexer ----------------------------------------------------------- */

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_name_char(char c) { return is_name_start(c) || is_digit(c); }

/* The end of the number that starts at i: digits with an optional
 * fraction (".5" and "5." both count) and an optional exponent
 * [eE][+-]?digits. Fails for an exponent without digits. */
static int lex_number(parser *p, size_t i, size_t *end) {
    const char *s = p->src;
    size_t j = i;
    while (j < p->len && is_digit(s[j])) j++;
    if (j < p->len && s[j] == '.') {
        j++;
        while (j < p->len && is_digit(s[j])) j++;
    }
    if (j < p->len && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < p->len && (s[k] == '+' || s[k] == '-')) k++;
        if (k >= p->len || !is_digit(s[k])) {
            char q[GD_QUOTE_CAP];
            gd_xp_quote(p, i, k, q, sizeof q);
            return gd_xp_fail(p, k, 0, "the number %s has no digits in its exponent", q);
        }
        while (k < p->len && is_digit(s[k])) k++;
        j = k;
    }
    *end = j;
    return 0;
}

/* Kind of a one-character token, or T_END when c is not one. */
static tok_kind punct_kind(char c) {
    switch (c) {
    case '+': return T_PLUS;
    case '-': return T_MINUS;
    case '*': return T_STAR;
    case '/': return T_SLASH;
    case '^': return T_CARET;
    case '@': return T_AT;
    case '(': return T_LPAREN;
    case ')': return T_RPAREN;
    case '[': return T_LBRACKET;
    case ']': return T_RBRACKET;
    case ',': return T_COMMA;
    case ':': return T_COLON;
    case '=': return T_EQUALS;
    default: return T_END;
    }
}

/* The token that starts at or after byte i (whitespace skipped) into *t.
 * Fails on a character that starts no token. */
int gd_xp_lex(parser *p, size_t i, tok *t) {
    while (i < p->len && is_space(p->src[i])) i++;
    t->pos = t->end = i;
    if (i >= p->len) {
        t->kind = T_END;
        return 0;
    }
    char c = p->src[i];
    if (c == '.' && i + 2 < p->len && p->src[i + 1] == '.' && p->src[i + 2] == '.') {
        t->kind = T_ELLIPSIS;
        t->end = i + 3;
        return 0;
    }
    if (is_digit(c) || (c == '.' && i + 1 < p->len && is_digit(p->src[i + 1]))) {
        t->kind = T_NUM;
        return lex_number(p, i, &t->end);
    }
    if (is_name_start(c)) {
        size_t j = i + 1;
        while (j < p->len && is_name_char(p->src[j])) j++;
        t->kind = T_NAME;
        t->end = j;
        return 0;
    }
    if (c == '`') { /* a quoted name, any bytes but ` and newline: `input.1`, `/layer1/Conv_output_0` */
        size_t j = i + 1;
        while (j < p->len && p->src[j] != '`' && p->src[j] != '\n') j++;
        if (j >= p->len || p->src[j] != '`' || j == i + 1)
            return gd_xp_fail(p, i, 0, "the quoted name starting here is empty or has no closing `");
        t->kind = T_NAME;
        t->end = j + 1;
        return 0;
    }
    if (c == '\'' || c == '"') { /* no escapes; one line */
        size_t j = i + 1;
        while (j < p->len && p->src[j] != c && p->src[j] != '\n') j++;
        if (j >= p->len || p->src[j] != c) return gd_xp_fail(p, i, 0, "the string starting here has no closing %c", c);
        t->kind = T_STR;
        t->end = j + 1;
        return 0;
    }
    char c2 = i + 1 < p->len ? p->src[i + 1] : '\0';
    if ((c == '*' && c2 == '*') || ((c == '<' || c == '>' || c == '=' || c == '!') && c2 == '=')) {
        t->kind = c == '*' ? T_CARET : c == '<' ? T_LE : c == '>' ? T_GE : c == '=' ? T_EQEQ : T_NE; /* ** is ^ */
        t->end = i + 2;
        return 0;
    }
    tok_kind k = c == '<' ? T_LT : c == '>' ? T_GT : punct_kind(c);
    if (k != T_END) {
        t->kind = k;
        t->end = i + 1;
        return 0;
    }
    if (c >= 0x20 && c < 0x7f) return gd_xp_fail(p, i, 0, "unexpected character '%c'", c);
    return gd_xp_fail(p, i, 0, "unexpected byte 0x%02x (expressions are ASCII)", (unsigned)(unsigned char)c);
}

/* Consume the current token. */
int gd_xp_advance(parser *p) { return gd_xp_lex(p, p->cur.end, &p->cur); }

/* The token after the current one, without consuming anything. */
int gd_xp_peek(parser *p, tok *t) { return gd_xp_lex(p, p->cur.end, t); }

/* expr.c -- the expression language of graph nodes (see expr.h): a lexer
 * that reads one token on demand, a recursive-descent parser that charges
 * every nesting (parentheses, calls, unary signs, the right operand of ^)
 * to an explicit depth bound, and keyword attributes whose values the
 * attribute reader (attrs.h) types and range-checks through lib's table.
 * The first error wins; on any error everything built so far is freed. */
#include "expr.h"

#include "attrs.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whatever max_depth the caller gives, the recursion stops at this depth:
 * one level costs at most a handful of small frames (a call goes through
 * call, argument, sum, product, unary, power, primary). */
#define DEPTH_CEILING 1000

/* Longest token text quoted in a message. */

/* For the error paths and the leaf work off the recursion: their buffers
 * must not be inlined into the frames that recursion stacks up. */
#define NOINLINE __attribute__((noinline))

/* ---- tokens ---------------------------------------------------------- */

typedef enum tok_kind {
    T_END,
    T_NUM,
    T_NAME,
    T_PLUS,
    T_MINUS,
    T_STAR,
    T_SLASH,
    T_CARET,
    T_AT,
    T_LPAREN,
    T_RPAREN,
    T_LBRACKET,
    T_RBRACKET,
    T_COMMA,
    T_EQUALS,
    T_STR    /* 'text' or "text": an attribute value only */
} tok_kind;

/* One token: src[pos, end). T_END sits at len. */
typedef struct tok {
    tok_kind kind;
    size_t pos, end;
} tok;

/* The ops that the operators stand for, looked up once per parse. */
enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MATMUL, OP_NEG, OP_COUNT };
static const char *const operator_ops[OP_COUNT] = {"add", "sub", "mul", "div", "pow", "matmul", "neg"};

typedef struct parser {
    const char *src;
    size_t len;
    int max_nodes;
    int max_depth;           /* the caller's, capped at DEPTH_CEILING */
    int depth;               /* current nesting */
    gd_ex_node *nodes;       /* (cap), n used */
    int n, cap;
    tok cur;                 /* the next unconsumed token */
    const gr_op *ops[OP_COUNT];
    gd_expr_error *err;
} parser;

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
static int fail(parser *p, size_t pos, int fault, const char *fmt, ...) __attribute__((format(printf, 4, 5)))
NOINLINE;
static int fail(parser *p, size_t pos, int fault, const char *fmt, ...) {
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
static void quote(const parser *p, size_t pos, size_t end, char *buf, size_t cap) {
    gd_quote(p->src + pos, end - pos, '\'', buf, cap);
}

/* What t is, for "found ...": "the end" or its text in quotes. */
static void describe(const parser *p, const tok *t, char *buf, size_t cap) {
    if (t->kind == T_END) snprintf(buf, cap, "the end");
    else quote(p, t->pos, t->end, buf, cap);
}

/* "<what>, found <the current token>" at the current token. */
static NOINLINE int fail_found(parser *p, const char *what) {
    char found[GD_QUOTE_CAP];
    describe(p, &p->cur, found, sizeof found);
    return fail(p, p->cur.pos, 0, "%s, found %s", what, found);
}

/* What an unclosed bracket opened. */
typedef enum opener { OPEN_GROUP, OPEN_CALL, OPEN_LIST } opener;

/* The current token should have closed what opened at byte open (a
 * parenthesis, the call of name, the list of attribute name): "missing ')'
 * to close the call of sum at column 1" at the end, else "expected
 * <expected> to close ..., found 'y'". */
static NOINLINE int unclosed(parser *p, const char *expected, opener kind, const char *name, size_t open) {
    char at[64], what[96], found[GD_QUOTE_CAP];
    where(p, open, at, sizeof at);
    if (kind == OPEN_GROUP) snprintf(what, sizeof what, "the '(' at %s", at);
    else if (kind == OPEN_CALL) snprintf(what, sizeof what, "the call of %s at %s", name, at);
    else snprintf(what, sizeof what, "the list '%s' at %s", name, at);
    if (p->cur.kind == T_END)
        return fail(p, p->cur.pos, 0, "missing '%c' to close %s", kind == OPEN_LIST ? ']' : ')', what);
    describe(p, &p->cur, found, sizeof found);
    return fail(p, p->cur.pos, 0, "expected %s to close %s, found %s", expected, what, found);
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
            quote(p, i, k, q, sizeof q);
            return fail(p, k, 0, "the number %s has no digits in its exponent", q);
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
    case '=': return T_EQUALS;
    default: return T_END;
    }
}

/* The token that starts at or after byte i (whitespace skipped) into *t.
 * Fails on a character that starts no token. */
static int lex(parser *p, size_t i, tok *t) {
    while (i < p->len && is_space(p->src[i])) i++;
    t->pos = t->end = i;
    if (i >= p->len) {
        t->kind = T_END;
        return 0;
    }
    char c = p->src[i];
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
    if (c == '\'' || c == '"') { /* no escapes; one line */
        size_t j = i + 1;
        while (j < p->len && p->src[j] != c && p->src[j] != '\n') j++;
        if (j >= p->len || p->src[j] != c) return fail(p, i, 0, "the string starting here has no closing %c", c);
        t->kind = T_STR;
        t->end = j + 1;
        return 0;
    }
    tok_kind k = punct_kind(c);
    if (k != T_END) {
        t->kind = k;
        t->end = i + 1;
        return 0;
    }
    if (c >= 0x20 && c < 0x7f) return fail(p, i, 0, "unexpected character '%c'", c);
    return fail(p, i, 0, "unexpected byte 0x%02x (expressions are ASCII)", (unsigned)(unsigned char)c);
}

/* Consume the current token. */
static int advance(parser *p) { return lex(p, p->cur.end, &p->cur); }

/* The token after the current one, without consuming anything. */
static int peek(parser *p, tok *t) { return lex(p, p->cur.end, t); }

/* ---- nodes and depth ------------------------------------------------- */

/* Append a zeroed node of kind starting at pos (the array grows
 * geometrically). Returns its index or -1. Over the node limit the error
 * names where the parser is, not where the node starts (an operator
 * node of a long chain starts at byte 0). */
static int node_new(parser *p, gd_ex_kind kind, size_t pos) {
    if (p->n >= p->max_nodes)
        return fail(p, p->cur.pos, 1, "the expression has more than %d nodes (the limit)", p->max_nodes);
    if (p->n == p->cap) {
        int ncap = p->cap == 0 ? 16 : p->cap > INT_MAX / 2 ? INT_MAX : p->cap * 2;
        if (ncap > p->max_nodes) ncap = p->max_nodes;
        gd_ex_node *nn = realloc(p->nodes, (size_t)ncap * sizeof *nn);
        if (!nn) return fail(p, pos, 0, "out of memory for %d expression nodes", ncap);
        p->nodes = nn;
        p->cap = ncap;
    }
    gd_ex_node *x = &p->nodes[p->n];
    memset(x, 0, sizeof *x);
    x->kind = kind;
    x->pos = pos;
    return p->n++;
}

/* Append an op node of op over args[0..nargs) with attrs (NULL: none). */
static int op_node(parser *p, const gr_op *op, size_t pos, const int *args, int nargs, const gr_attrs *attrs) {
    int id = node_new(p, GD_EX_OP, pos);
    if (id < 0) return -1;
    gd_ex_node *x = &p->nodes[id];
    x->op = op;
    x->nargs = nargs;
    for (int i = 0; i < nargs; i++) x->args[i] = args[i];
    if (attrs) x->attrs = *attrs;
    return id;
}

/* op_node for an operator: one or two operands, no attributes. */
static int operator_node(parser *p, int op, size_t pos, int a, int b) {
    int args[2] = {a, b};
    return op_node(p, p->ops[op], pos, args, op == OP_NEG ? 1 : 2, NULL);
}

/* Go one level deeper at pos, failing past the depth limit. The caller
 * leaves the level with p->depth-- on success (errors abandon the parse). */
static int enter(parser *p, size_t pos) {
    if (++p->depth > p->max_depth)
        return fail(p, pos, 1, "the expression is nested deeper than %d levels (the limit)", p->max_depth);
    return 0;
}

/* ---- numbers --------------------------------------------------------- */

/* The value of the number text src[pos, end) (shape already checked by
 * the lexer), negated when neg, parsed by strtod on a terminated copy.
 * Fails for a value beyond the double range. */
static NOINLINE int number_value(parser *p, size_t pos, size_t end, int neg, double *out) {
    char small[64], *buf = small;
    size_t n = end - pos;
    if (n >= sizeof small) {
        buf = malloc(n + 1);
        if (!buf) return fail(p, pos, 0, "out of memory reading a number");
    }
    memcpy(buf, p->src + pos, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (buf != small) free(buf);
    if (isinf(v)) {
        char q[GD_QUOTE_CAP];
        quote(p, pos, end, q, sizeof q);
        return fail(p, pos, 0, "the number %s is too large", q);
    }
    *out = neg ? -v : v;
    return 0;
}

/* A NUM node for the current (number) token, negated when neg, starting at
 * pos (the minus sign's position when one was folded in). */
static int number_node(parser *p, size_t pos, int neg) {
    double v = 0;
    if (number_value(p, p->cur.pos, p->cur.end, neg, &v) < 0) return -1;
    int id = node_new(p, GD_EX_NUM, pos);
    if (id < 0) return -1;
    p->nodes[id].value = v;
    return advance(p) < 0 ? -1 : id;
}

/* ---- expressions ----------------------------------------------------- */

static int parse_sum(parser *p);
static int parse_unary(parser *p);
static int parse_call(parser *p);

/* ( sum ), one level deeper. */
static int parse_group(parser *p) {
    size_t open = p->cur.pos;
    if (enter(p, open) < 0 || advance(p) < 0) return -1;
    int x = parse_sum(p);
    if (x < 0) return -1;
    if (p->cur.kind != T_RPAREN) return unclosed(p, "an operator or ')'", OPEN_GROUP, NULL, open);
    if (advance(p) < 0) return -1;
    p->depth--;
    return x;
}

/* A number, a name, a call name(...) or a parenthesized expression. */
static int parse_primary(parser *p) {
    switch (p->cur.kind) {
    case T_NUM: return number_node(p, p->cur.pos, 0);
    case T_NAME: {
        tok next;
        if (peek(p, &next) < 0) return -1;
        if (next.kind == T_LPAREN) return parse_call(p);
        int id = node_new(p, GD_EX_NAME, p->cur.pos);
        if (id < 0) return -1;
        p->nodes[id].name = p->src + p->cur.pos;
        p->nodes[id].name_len = p->cur.end - p->cur.pos;
        return advance(p) < 0 ? -1 : id;
    }
    case T_LPAREN: return parse_group(p);
    case T_END: return fail(p, p->cur.pos, 0, "unexpected end of the expression: expected an operand");
    default: return fail_found(p, "expected an operand");
    }
}

/* primary [^ unary]: right-associative, and the exponent may start with a
 * sign (2^-1), one level deeper. */
static int parse_power(parser *p) {
    size_t start = p->cur.pos;
    int base = parse_primary(p);
    if (base < 0 || p->cur.kind != T_CARET) return base;
    if (enter(p, p->cur.pos) < 0 || advance(p) < 0) return -1;
    int ex = parse_unary(p);
    if (ex < 0) return -1;
    p->depth--;
    return operator_node(p, OP_POW, start, base, ex);
}

/* [-+] unary | power, each sign one level deeper. A minus directly before
 * a number that is not a base of ^ folds into it: -3 is the number -3, but
 * -3^2 is neg(pow(3, 2)). Unary plus adds no node. */
static int parse_unary(parser *p) {
    tok sign = p->cur;
    if (sign.kind != T_MINUS && sign.kind != T_PLUS) return parse_power(p);
    if (enter(p, sign.pos) < 0 || advance(p) < 0) return -1;
    int x;
    tok next;
    if (sign.kind == T_MINUS && p->cur.kind == T_NUM) {
        if (peek(p, &next) < 0) return -1;
        if (next.kind != T_CARET) {
            x = number_node(p, sign.pos, 1);
            if (x >= 0) p->depth--;
            return x;
        }
    }
    x = parse_unary(p);
    if (x < 0) return -1;
    if (sign.kind == T_MINUS) x = operator_node(p, OP_NEG, sign.pos, x, -1);
    if (x >= 0) p->depth--;
    return x;
}

/* unary ([*\/@] unary)*, left-associative, iterative. */
static int parse_product(parser *p) {
    size_t start = p->cur.pos;
    int x = parse_unary(p);
    while (x >= 0 && (p->cur.kind == T_STAR || p->cur.kind == T_SLASH || p->cur.kind == T_AT)) {
        int op = p->cur.kind == T_STAR ? OP_MUL : p->cur.kind == T_SLASH ? OP_DIV : OP_MATMUL;
        if (advance(p) < 0) return -1;
        int y = parse_unary(p);
        if (y < 0) return -1;
        x = operator_node(p, op, start, x, y);
    }
    return x;
}

/* product ([+-] product)*, left-associative, iterative. */
static int parse_sum(parser *p) {
    size_t start = p->cur.pos;
    int x = parse_product(p);
    while (x >= 0 && (p->cur.kind == T_PLUS || p->cur.kind == T_MINUS)) {
        int op = p->cur.kind == T_PLUS ? OP_ADD : OP_SUB;
        if (advance(p) < 0) return -1;
        int y = parse_product(p);
        if (y < 0) return -1;
        x = operator_node(p, op, start, x, y);
    }
    return x;
}

/* ---- calls and attributes -------------------------------------------- */

/* A call being parsed. */
typedef struct call {
    const gr_op *op;
    size_t name_pos;
    int args[GR_MAX_OPERANDS];
    int nargs;               /* operands seen, possibly more than stored */
    size_t extra_pos;        /* where the first operand beyond the arity starts */
    int keyword_seen;
    gr_attr_mask given;      /* attributes given */
    gr_attrs attrs;
} call;

/* One value token into [*pos, *end), consumed: a sign folds into the
 * number after it; the end of the text is an empty span there. */
static int scan_token(parser *p, size_t *pos, size_t *end) {
    tok next;
    *pos = p->cur.pos;
    *end = p->cur.end;
    if (p->cur.kind == T_END) return 0;
    if (p->cur.kind == T_MINUS || p->cur.kind == T_PLUS) {
        if (peek(p, &next) < 0) return -1;
        if (next.kind == T_NUM) {
            *end = next.end;
            if (advance(p) < 0) return -1;
        }
    }
    return advance(p);
}

/* The value after name= into *l: a list [a, b, ...] of value tokens or
 * one value token. Which tokens make a value of the attribute's type is
 * the attribute reader's business; a list entry that cannot be a value
 * ("[1,]", "[[1]]", "[-x]") is kept as the token found there, which no
 * reading accepts, and ends the scan. */
static NOINLINE int scan_value(parser *p, const char *name, gd_attr_lit *l) {
    memset(l, 0, sizeof *l);
    l->src = p->src;
    if (p->cur.kind != T_LBRACKET) return scan_token(p, &l->pos, &l->end);
    size_t open = p->cur.pos;
    l->list = 1;
    l->pos = open;
    l->end = p->cur.end;
    if (advance(p) < 0) return -1;
    if (p->cur.kind == T_RBRACKET) return advance(p);
    for (;;) {
        size_t pos = p->cur.pos, end = p->cur.end;
        tok next = p->cur;
        if ((p->cur.kind == T_MINUS || p->cur.kind == T_PLUS) && peek(p, &next) < 0) return -1;
        /* anything but a number, a name or a string (a sign folds into a number) */
        int odd = next.kind != T_NUM && next.kind != T_NAME && next.kind != T_STR;
        if (!odd && scan_token(p, &pos, &end) < 0) return -1;
        if (l->n <= GR_MAX_RANK) {
            l->entry_pos[l->n] = pos;
            l->entry_end[l->n] = end;
        }
        l->n++;
        if (odd) return 0;
        if (p->cur.kind == T_COMMA) {
            if (advance(p) < 0) return -1;
            continue;
        }
        if (p->cur.kind == T_RBRACKET) return advance(p);
        return unclosed(p, "',' or ']'", OPEN_LIST, name, open);
    }
}

/* An attribute reader's error at its byte in the source. */
static NOINLINE int fail_attr(parser *p, const gd_attr_error *ae) {
    fail(p, ae->pos, GD_EXPR_ATTR, "%s", ae->message);
    p->err->code = ae->code;
    return -1;
}

/* name=value: an attribute the op takes, given once, with a value the
 * attribute reader accepts. The current token is the name (the next one
 * is '='). */
static NOINLINE int parse_keyword(parser *p, call *c) {
    tok key = p->cur;
    gd_attr_error ae;
    const gr_attr_def *d = gd_attr_find(c->op, p->src + key.pos, key.end - key.pos, &ae);
    if (!d) {
        ae.pos = key.pos;
        return fail_attr(p, &ae);
    }
    if (c->given & GR_ATTR_BIT(d->id))
        return fail(p, key.pos, 0, "attribute '%s' of %s is given twice", d->name, gr_op_name(c->op));
    c->given |= GR_ATTR_BIT(d->id);
    if (advance(p) < 0 || advance(p) < 0) return -1; /* name, '=' */
    gd_attr_lit lit;
    if (scan_value(p, d->name, &lit) < 0) return -1;
    gd_attr_src src = {.lit = &lit};
    gr_attr_value v;
    if (gd_attr_read(c->op, d, &src, &v, &ae) < 0) return fail_attr(p, &ae);
    gr_attrs_put(&c->attrs, d, &v, NULL); /* already checked */
    return 0;
}

/* One argument of a call: name=value, or an operand (before any keyword). */
static int parse_argument(parser *p, call *c) {
    tok next;
    if (p->cur.kind == T_NAME) {
        if (peek(p, &next) < 0) return -1;
        if (next.kind == T_EQUALS) {
            c->keyword_seen = 1;
            return parse_keyword(p, c);
        }
    }
    if (c->keyword_seen)
        return fail(p, p->cur.pos, 0, "an operand of %s follows a keyword argument: operands come first",
                    gr_op_name(c->op));
    size_t pos = p->cur.pos;
    int x = parse_sum(p);
    if (x < 0) return -1;
    if (c->nargs < GR_MAX_OPERANDS) c->args[c->nargs] = x;
    if (c->nargs == gr_op_arity(c->op)) c->extra_pos = pos;
    c->nargs++;
    return 0;
}

/* The operand count and the required attributes of a finished call. */
static int check_call(parser *p, const call *c) {
    const char *name = gr_op_name(c->op);
    int arity = gr_op_arity(c->op);
    if (c->nargs != arity) {
        size_t pos = c->nargs > arity ? c->extra_pos : c->name_pos;
        if (arity == 0) return fail(p, pos, GD_EXPR_SIGNATURE, "%s takes no operands, got %d", name, c->nargs);
        return fail(p, pos, GD_EXPR_SIGNATURE, "%s takes %d operand%s, got %d", name, arity, arity == 1 ? "" : "s",
                    c->nargs);
    }
    gr_attr_mask missing = gr_op_required_attrs(c->op) & ~c->given;
    for (int i = 0; i < GR_ATTR_COUNT; i++)
        if (missing & GR_ATTR_BIT(i))
            return fail(p, c->name_pos, GD_EXPR_SIGNATURE, "%s needs the attribute '%s'", name,
                        gr_attr_name((gr_attr_id)i));
    return 0;
}

/* The op named by the current token, or NULL after failing. */
static NOINLINE const gr_op *find_op(parser *p) {
    size_t n = p->cur.end - p->cur.pos;
    char name[64];
    const gr_op *op = NULL;
    if (n < sizeof name) {
        memcpy(name, p->src + p->cur.pos, n);
        name[n] = '\0';
        op = gr_op_find(name);
    }
    if (!op) {
        char q[GD_QUOTE_CAP];
        quote(p, p->cur.pos, p->cur.end, q, sizeof q);
        fail(p, p->cur.pos, GD_EXPR_UNKNOWN_OP, "unknown op %s", q);
    }
    return op;
}

/* name(args...) where name is an op of lib's table; one level deeper. */
static NOINLINE int parse_call(parser *p) {
    call c;
    memset(&c, 0, sizeof c);
    c.name_pos = p->cur.pos;
    if (!(c.op = find_op(p))) return -1;
    if (enter(p, c.name_pos) < 0 || advance(p) < 0 || advance(p) < 0) return -1; /* name, '(' */
    if (p->cur.kind != T_RPAREN)
        for (;;) {
            if (parse_argument(p, &c) < 0) return -1;
            if (p->cur.kind == T_COMMA) {
                if (advance(p) < 0) return -1;
                continue;
            }
            if (p->cur.kind == T_RPAREN) break;
            return unclosed(p, "an operator, ',' or ')'", OPEN_CALL, gr_op_name(c.op), c.name_pos);
        }
    if (advance(p) < 0 || check_call(p, &c) < 0) return -1;
    int id = op_node(p, c.op, c.name_pos, c.args, c.nargs, &c.attrs);
    if (id >= 0) p->depth--;
    return id;
}

/* ---- entry points ---------------------------------------------------- */

gd_expr_limits gd_expr_limits_default(void) {
    gd_expr_limits l = {.max_len = 64 * 1024, .max_nodes = 10000, .max_depth = 200};
    return l;
}

/* The whole source: one sum, then the end. */
static int parse_all(parser *p) {
    for (int i = 0; i < OP_COUNT; i++)
        if (!(p->ops[i] = gr_op_find(operator_ops[i])))
            return fail(p, 0, 0, "libgrad has no op '%s' for an operator", operator_ops[i]);
    if (p->len > 0 && !p->src) return fail(p, 0, 0, "no source text");
    if (lex(p, 0, &p->cur) < 0) return -1;
    if (p->cur.kind == T_END) return fail(p, p->cur.pos, 0, "the expression is empty");
    if (parse_sum(p) < 0) return -1;
    if (p->cur.kind == T_END) return 0;
    if (p->cur.kind == T_RPAREN) return fail(p, p->cur.pos, 0, "unbalanced ')': there is no '(' to close");
    return fail_found(p, "expected an operator or the end");
}

int gd_expr_parse(const char *src, size_t len, const gd_expr_limits *lim, gd_expr *e, gd_expr_error *err) {
    gd_expr_error scratch;
    if (!err) err = &scratch;
    memset(err, 0, sizeof *err);
    gd_expr_limits l = lim ? *lim : gd_expr_limits_default();
    parser p;
    memset(&p, 0, sizeof p);
    p.src = src;
    p.len = len;
    p.err = err;
    p.max_nodes = l.max_nodes;
    p.max_depth = l.max_depth < DEPTH_CEILING ? l.max_depth : DEPTH_CEILING;
    if (!e) return fail(&p, 0, 0, "no result given");
    e->nodes = NULL;
    e->n = 0;
    e->root = -1;
    if (len > l.max_len) {
        p.len = l.max_len; /* where() reads no further */
        return fail(&p, l.max_len, 1, "the expression is %zu bytes, over the limit of %zu", len, l.max_len);
    }
    if (parse_all(&p) < 0) {
        free(p.nodes);
        return -1;
    }
    e->nodes = p.nodes;
    e->n = p.n;
    e->root = p.n - 1;
    return 0;
}

void gd_expr_free(gd_expr *e) {
    if (!e) return;
    free(e->nodes);
    e->nodes = NULL;
    e->n = 0;
    e->root = -1;
}

/* expr.c -- the expression language of graph nodes (see expr.h): a
 * recursive-descent parser over the tokens of expr_lex.c that charges
 * every nesting (parentheses, calls, unary signs, the right operand of ^)
 * to an explicit depth bound, and keyword attributes whose values the
 * attribute reader (attrs.h) types and range-checks through lib's table.
 * The first error wins; on any error everything built so far is freed. */
#include "expr_impl.h"

#include "attrs.h"
#include "suggest.h"

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

static const char *const operator_ops[OP_COUNT] = {"add",  "sub",        "mul",     "div",           "pow",
                                                   "matmul", "neg",      "less",    "less_equal",    "greater",
                                                   "greater_equal", "equal", "not_equal", "slice", "squeeze", "take"};

/* ---- nodes and depth ------------------------------------------------- */

/* Append a zeroed node of kind starting at pos (the array grows
 * geometrically). Returns its index or -1. Over the node limit the error
 * names where the parser is, not where the node starts (an operator
 * node of a long chain starts at byte 0). */
static int node_new(parser *p, gd_ex_kind kind, size_t pos) {
    if (p->n >= p->max_nodes)
        return gd_xp_fail(p, p->cur.pos, 1, "the expression has more than %d nodes (the limit)", p->max_nodes);
    if (p->n == p->cap) {
        int ncap = p->cap == 0 ? 16 : p->cap > INT_MAX / 2 ? INT_MAX : p->cap * 2;
        if (ncap > p->max_nodes) ncap = p->max_nodes;
        gd_ex_node *nn = realloc(p->nodes, (size_t)ncap * sizeof *nn);
        if (!nn) return gd_xp_fail(p, pos, 0, "out of memory for %d expression nodes", ncap);
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
    for (int i = 0; i < nargs && i < GR_MAX_OPERANDS; i++) x->args[i] = args[i];
    if (nargs > GR_MAX_OPERANDS) {
        x->args_all = malloc((size_t)nargs * sizeof *x->args_all);
        if (!x->args_all) return gd_xp_fail(p, pos, 0, "out of memory for %d operands", nargs);
        memcpy(x->args_all, args, (size_t)nargs * sizeof *args);
    }
    if (attrs && attrs->set) {
        if (!(x->attrs = malloc(sizeof *x->attrs))) return gd_xp_fail(p, pos, 0, "out of memory for attributes");
        *x->attrs = *attrs;
    }
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
        return gd_xp_fail(p, pos, 1, "the expression is nested deeper than %d levels (the limit)", p->max_depth);
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
        if (!buf) return gd_xp_fail(p, pos, 0, "out of memory reading a number");
    }
    memcpy(buf, p->src + pos, n);
    buf[n] = '\0';
    double v = strtod(buf, NULL);
    if (buf != small) free(buf);
    if (isinf(v)) {
        char q[GD_QUOTE_CAP];
        gd_xp_quote(p, pos, end, q, sizeof q);
        return gd_xp_fail(p, pos, 0, "the number %s is too large", q);
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
    return gd_xp_advance(p) < 0 ? -1 : id;
}

/* The literals inf and nan (reserved: no value can be named so in an
 * expression), as a NUM node, or -1 when the current name is neither. */
static int literal_node(parser *p) {
    size_t n = p->cur.end - p->cur.pos;
    const char *s = p->src + p->cur.pos;
    int is_inf = n == 3 && !memcmp(s, "inf", 3), is_nan = n == 3 && !memcmp(s, "nan", 3);
    if (!is_inf && !is_nan) return -2;
    int id = node_new(p, GD_EX_NUM, p->cur.pos);
    if (id < 0) return -1;
    p->nodes[id].value = is_inf ? INFINITY : NAN;
    return gd_xp_advance(p) < 0 ? -1 : id;
}

/* ---- expressions ----------------------------------------------------- */

static int parse_compare(parser *p);
static int parse_sum(parser *p);
static int parse_unary(parser *p);
static int parse_call(parser *p);

/* ( sum ), one level deeper. */
static int parse_group(parser *p) {
    size_t open = p->cur.pos;
    if (enter(p, open) < 0 || gd_xp_advance(p) < 0) return -1;
    int x = parse_compare(p);
    if (x < 0) return -1;
    if (p->cur.kind != T_RPAREN) return gd_xp_unclosed(p, "an operator or ')'", OPEN_GROUP, NULL, open);
    if (gd_xp_advance(p) < 0) return -1;
    p->depth--;
    return x;
}

/* A number, a name, a call name(...) or a parenthesized expression. */
static int parse_primary(parser *p) {
    switch (p->cur.kind) {
    case T_NUM: return number_node(p, p->cur.pos, 0);
    case T_NAME: {
        tok next;
        if (gd_xp_peek(p, &next) < 0) return -1;
        if (next.kind == T_LPAREN) return parse_call(p);
        int lit = literal_node(p);
        if (lit != -2) return lit;
        int id = node_new(p, GD_EX_NAME, p->cur.pos);
        if (id < 0) return -1;
        int quoted = p->src[p->cur.pos] == '`'; /* the name between the backquotes */
        p->nodes[id].name = p->src + p->cur.pos + quoted;
        p->nodes[id].name_len = p->cur.end - p->cur.pos - 2 * (size_t)quoted;
        return gd_xp_advance(p) < 0 ? -1 : id;
    }
    case T_LPAREN: return parse_group(p);
    case T_END: return gd_xp_fail(p, p->cur.pos, 0, "unexpected end of the expression: expected an operand");
    default: return gd_xp_fail_found(p, "expected an operand");
    }
}

/* ---- indexing: x[0], x[-1], x[:, 1:3], x[::2], x[..., 0], x[ids] -------- */

#define INDEX_MAX GR_MAX_RANK /* items in one index */

/* One item of an index. */
typedef struct index_item {
    enum { IX_INT, IX_SLICE, IX_ELLIPSIS, IX_TENSOR } kind;
    int64_t start, end, step;   /* IX_INT (start), IX_SLICE */
    int tensor;                 /* IX_TENSOR: the index's node */
} index_item;

/* An optional integer literal (a sign allowed) into *v: 1 when one was
 * there, 0 when not, -1 after failing. */
static int index_int(parser *p, int64_t *v) {
    int neg = p->cur.kind == T_MINUS;
    tok num = p->cur;
    if (neg && gd_xp_peek(p, &num) < 0) return -1;
    if (num.kind != T_NUM) return 0;
    double x;
    if (number_value(p, num.pos, num.end, neg, &x) < 0) return -1;
    if (!(fabs(x) <= 9e18) || x != (double)(int64_t)x) /* the range first: the cast of a huge x is undefined */
        return gd_xp_fail(p, num.pos, 0, "an index is a whole number, not %.17g", x);
    *v = (int64_t)x;
    if (neg && gd_xp_advance(p) < 0) return -1;
    return gd_xp_advance(p) < 0 ? -1 : 1;
}

/* start:end:step with each part optional, after start was read (or not). */
static int index_slice(parser *p, index_item *it, int has_start) {
    if (!has_start) it->start = 0;
    it->kind = IX_SLICE;
    it->end = INT64_MAX;
    it->step = 1;
    if (gd_xp_advance(p) < 0) return -1; /* the first ':' */
    if (index_int(p, &it->end) < 0) return -1;
    if (p->cur.kind != T_COLON) return 0;
    if (gd_xp_advance(p) < 0) return -1;
    int r = index_int(p, &it->step);
    if (r < 0) return -1;
    if (r && it->step == 0) return gd_xp_fail(p, p->cur.pos, 0, "a slice step cannot be zero");
    if (it->step < 0 && !has_start) it->start = INT64_MAX; /* from the end, as NumPy's x[::-1] */
    if (it->step < 0 && it->end == INT64_MAX) it->end = -INT64_MAX; /* past the front, as ONNX clamps it */
    return 0;
}

/* One item: an integer, a slice, ..., or a tensor expression (take). */
static int index_item_parse(parser *p, index_item *it) {
    memset(it, 0, sizeof *it);
    if (p->cur.kind == T_ELLIPSIS) {
        it->kind = IX_ELLIPSIS;
        return gd_xp_advance(p);
    }
    if (p->cur.kind == T_COLON) return index_slice(p, it, 0);
    tok next = p->cur, after;
    if (p->cur.kind == T_MINUS && gd_xp_peek(p, &next) < 0) return -1;
    if (next.kind == T_NUM) { /* [-]n is a literal only when ',' ']' or ':' follows it: x[n + 1] is a tensor */
        if (gd_xp_lex(p, next.end, &after) < 0) return -1;
        if (after.kind == T_COMMA || after.kind == T_RBRACKET || after.kind == T_COLON) {
            if (index_int(p, &it->start) < 0) return -1;
            if (p->cur.kind == T_COLON) return index_slice(p, it, 1);
            it->kind = IX_INT;
            return 0;
        }
    }
    it->kind = IX_TENSOR;
    it->tensor = parse_compare(p);
    return it->tensor < 0 ? -1 : 0;
}

/* Attribute list of n int64 values into id of *a, or a failure at pos
 * (an index whose numbers are out of the attribute's range). */
static int set_ints(parser *p, size_t pos, gr_attrs *a, gr_attr_id id, const int64_t *v, int n) {
    gr_error ge;
    if (gr_attrs_set_ints(a, id, v, n, &ge) == GR_OK) return 0;
    return gd_xp_fail(p, pos, 0, "the index does not fit: %s", ge.message);
}

/* base[items...]: NumPy's basic indexing and one integer-tensor index.
 * Lowered to slice (integers and slices; axes after ... count from the
 * end), then squeeze (the integer items' axes), or take for a tensor
 * index. One level deeper. */
static NOINLINE int parse_index(parser *p, int base, size_t start) {
    size_t open = p->cur.pos;
    index_item items[INDEX_MAX];
    int n = 0, ellipsis = -1, tensor = -1, ints = 0;
    if (enter(p, open) < 0 || gd_xp_advance(p) < 0) return -1;
    if (p->cur.kind == T_RBRACKET) return gd_xp_fail(p, p->cur.pos, 0, "an index needs at least one item");
    for (;;) {
        if (n == INDEX_MAX) return gd_xp_fail(p, p->cur.pos, 0, "an index has at most %d items", INDEX_MAX);
        if (index_item_parse(p, &items[n]) < 0) return -1;
        if (items[n].kind == IX_ELLIPSIS) {
            if (ellipsis >= 0) return gd_xp_fail(p, open, 0, "an index can have only one '...'");
            ellipsis = n;
        }
        if (items[n].kind == IX_TENSOR) {
            if (tensor >= 0) return gd_xp_fail(p, open, 0, "an index can hold one tensor of indices (take)");
            tensor = n;
        }
        ints += items[n].kind == IX_INT;
        n++;
        if (p->cur.kind == T_COMMA) {
            if (gd_xp_advance(p) < 0) return -1;
            continue;
        }
        if (p->cur.kind == T_RBRACKET) break;
        return gd_xp_unclosed(p, "',' or ']'", OPEN_INDEX, NULL, open);
    }
    if (gd_xp_advance(p) < 0) return -1;
    if (tensor >= 0 && ints)
        return gd_xp_fail(p, open, 0, "an index mixes a tensor of indices with integers: use slices, or take()");
    /* the axis of each item: from the front before ..., from the back after */
    int64_t starts[INDEX_MAX], ends[INDEX_MAX], axes[INDEX_MAX], steps[INDEX_MAX], sq[INDEX_MAX];
    int ns = 0, nsq = 0;
    int64_t take_axis = 0;
    for (int i = 0; i < n; i++) {
        if (items[i].kind == IX_ELLIPSIS) continue;
        int64_t ax = ellipsis < 0 || i < ellipsis ? i : i - n;
        if (items[i].kind == IX_TENSOR) {
            take_axis = ax;
            continue;
        }
        if (items[i].kind == IX_SLICE && items[i].start == 0 && items[i].end == INT64_MAX && items[i].step == 1)
            continue; /* ':' keeps the axis */
        starts[ns] = items[i].start;
        steps[ns] = items[i].kind == IX_INT ? 1 : items[i].step;
        ends[ns] = items[i].kind == IX_INT ? (items[i].start == -1 ? INT64_MAX : items[i].start + 1) : items[i].end;
        axes[ns++] = ax;
        if (items[i].kind == IX_INT) sq[nsq++] = ax;
    }
    int x = base;
    if (ns) {
        gr_attrs a;
        memset(&a, 0, sizeof a);
        if (set_ints(p, open, &a, GR_ATTR_STARTS, starts, ns) < 0 || set_ints(p, open, &a, GR_ATTR_ENDS, ends, ns) < 0 ||
            set_ints(p, open, &a, GR_ATTR_AXES, axes, ns) < 0 || set_ints(p, open, &a, GR_ATTR_STEPS, steps, ns) < 0)
            return -1;
        if ((x = op_node(p, p->ops[OP_SLICE], start, &x, 1, &a)) < 0) return -1;
    }
    if (nsq) { /* all at once, so each axis is of the slice's shape */
        gr_attrs a;
        memset(&a, 0, sizeof a);
        if (set_ints(p, open, &a, GR_ATTR_AXES, sq, nsq) < 0) return -1;
        if ((x = op_node(p, p->ops[OP_SQUEEZE], start, &x, 1, &a)) < 0) return -1;
    }
    if (tensor >= 0) {
        gr_attrs a;
        memset(&a, 0, sizeof a);
        gr_attrs_set_int(&a, GR_ATTR_AXIS, take_axis);
        int args[2] = {x, items[tensor].tensor};
        if ((x = op_node(p, p->ops[OP_TAKE], start, args, 2, &a)) < 0) return -1;
    }
    if (x >= 0) p->depth--; /* x[:] and x[...] are x */
    return x;
}

/* primary [^ unary]: right-associative, and the exponent may start with a
 * sign (2^-1), one level deeper. */
static int parse_power(parser *p) {
    size_t start = p->cur.pos;
    int base = parse_primary(p);
    while (base >= 0 && p->cur.kind == T_LBRACKET) base = parse_index(p, base, start);
    if (base < 0 || p->cur.kind != T_CARET) return base;
    if (enter(p, p->cur.pos) < 0 || gd_xp_advance(p) < 0) return -1;
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
    if (enter(p, sign.pos) < 0 || gd_xp_advance(p) < 0) return -1;
    int x;
    tok next;
    if (sign.kind == T_MINUS && p->cur.kind == T_NUM) {
        if (gd_xp_peek(p, &next) < 0) return -1;
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
        if (gd_xp_advance(p) < 0) return -1;
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
        if (gd_xp_advance(p) < 0) return -1;
        int y = parse_product(p);
        if (y < 0) return -1;
        x = operator_node(p, op, start, x, y);
    }
    return x;
}

/* sum [(< <= > >= == !=) sum]: one comparison, below arithmetic, 0 or 1
 * with no gradient. Comparisons do not chain. */
static int parse_compare(parser *p) {
    size_t start = p->cur.pos;
    int x = parse_sum(p);
    if (x < 0 || p->cur.kind < T_LT || p->cur.kind > T_NE) return x;
    int op = OP_LT + (int)(p->cur.kind - T_LT); /* the tokens and ops are in the same order */
    if (gd_xp_advance(p) < 0) return -1;
    int y = parse_sum(p);
    if (y < 0) return -1;
    if (p->cur.kind >= T_LT && p->cur.kind <= T_NE)
        return gd_xp_fail(p, p->cur.pos, 0, "comparisons do not chain: write logical_and(a < b, b < c)");
    return operator_node(p, op, start, x, y);
}

/* ---- calls and attributes -------------------------------------------- */

/* A call being parsed. */
typedef struct call {
    const gr_op *op;
    size_t name_pos;
    int base;                /* its operands are p->argstack[base, base + nargs) */
    int nargs;               /* operands seen */
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
        if (gd_xp_peek(p, &next) < 0) return -1;
        if (next.kind == T_NUM || next.kind == T_NAME) { /* -1, -inf */
            *end = next.end;
            if (gd_xp_advance(p) < 0) return -1;
        }
    }
    return gd_xp_advance(p);
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
    if (gd_xp_advance(p) < 0) return -1;
    if (p->cur.kind == T_RBRACKET) return gd_xp_advance(p);
    for (;;) {
        size_t pos = p->cur.pos, end = p->cur.end;
        tok next = p->cur;
        if ((p->cur.kind == T_MINUS || p->cur.kind == T_PLUS) && gd_xp_peek(p, &next) < 0) return -1;
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
            if (gd_xp_advance(p) < 0) return -1;
            continue;
        }
        if (p->cur.kind == T_RBRACKET) return gd_xp_advance(p);
        return gd_xp_unclosed(p, "',' or ']'", OPEN_LIST, name, open);
    }
}

/* An attribute reader's error at its byte in the source. */
static NOINLINE int fail_attr(parser *p, const gd_attr_error *ae) {
    gd_xp_fail(p, ae->pos, GD_EXPR_ATTR, "%s", ae->message);
    p->err->code = ae->code;
    return -1;
}

/* name=value: an attribute the op takes, given once, with a value the
 * attribute reader accepts. The current token is the name (the next one
 * is '='). */
static NOINLINE int parse_attr_value(parser *p, call *c, const gr_attr_def *d, size_t pos);

/* The one required string attribute of op, or NULL: a string written as
 * an op's first argument gives it, as NumPy writes einsum("ij,jk", a, b). */
static const gr_attr_def *leading_string_attr(const gr_op *op) {
    const gr_attr_def *found = NULL;
    for (int i = 0; i < GR_ATTR_COUNT; i++) {
        if (!(gr_op_required_attrs(op) & GR_ATTR_BIT(i)) || gr_attr_type_of((gr_attr_id)i) != GR_ATTR_STRING) continue;
        if (found) return NULL;
        found = gr_attr_def_of((gr_attr_id)i);
    }
    return found;
}

static NOINLINE int parse_keyword(parser *p, call *c) {
    tok key = p->cur;
    gd_attr_error ae;
    const gr_attr_def *d = gd_attr_find(c->op, p->src + key.pos, key.end - key.pos, &ae);
    if (!d) {
        ae.pos = key.pos;
        return fail_attr(p, &ae);
    }
    if (gd_xp_advance(p) < 0 || gd_xp_advance(p) < 0) return -1; /* name, '=' */
    return parse_attr_value(p, c, d, key.pos);
}

/* The value of attribute d of call c (named at pos), read at the current
 * token by the attribute reader. */
static NOINLINE int parse_attr_value(parser *p, call *c, const gr_attr_def *d, size_t pos) {
    gd_attr_error ae;
    if (c->given & GR_ATTR_BIT(d->id))
        return gd_xp_fail(p, pos, 0, "attribute '%s' of %s is given twice", d->name, gr_op_name(c->op));
    c->given |= GR_ATTR_BIT(d->id);
    gd_attr_lit lit;
    if (scan_value(p, d->name, &lit) < 0) return -1;
    gd_attr_src src = {.lit = &lit};
    gr_attr_value v;
    if (gd_attr_read(c->op, d, &src, &v, &ae) < 0) return fail_attr(p, &ae);
    gr_attrs_put(&c->attrs, d, &v, NULL); /* already checked */
    return 0;
}

/* One operand of call c: a sum, pushed on the operand stack. */
static int parse_operand(parser *p, call *c) {
    size_t pos = p->cur.pos;
    int x = parse_compare(p);
    if (x < 0) return -1;
    if (p->argn == p->argcap) {
        int ncap = p->argcap ? p->argcap * 2 : 16;
        int *na = realloc(p->argstack, (size_t)ncap * sizeof *na);
        if (!na) return gd_xp_fail(p, pos, 0, "out of memory for %d operands", ncap);
        p->argstack = na;
        p->argcap = ncap;
    }
    p->argstack[p->argn++] = x;
    if (c->nargs == gr_op_arity(c->op)) c->extra_pos = pos;
    c->nargs++;
    return 0;
}

/* [a, b, ...]: a list of tensors, each an operand of c, for an op over a
 * list (concat, stack); one level deeper. */
static NOINLINE int parse_operand_list(parser *p, call *c) {
    size_t open = p->cur.pos;
    if (gr_op_arity(c->op) != GR_VARIADIC)
        return gd_xp_fail(p, open, GD_EXPR_SIGNATURE, "%s takes tensors, not a list of them (lists are for concat and stack)",
                    gr_op_name(c->op));
    if (enter(p, open) < 0 || gd_xp_advance(p) < 0) return -1;
    if (p->cur.kind != T_RBRACKET)
        for (;;) {
            if (parse_operand(p, c) < 0) return -1;
            if (p->cur.kind == T_COMMA) {
                if (gd_xp_advance(p) < 0) return -1;
                continue;
            }
            if (p->cur.kind == T_RBRACKET) break;
            return gd_xp_unclosed(p, "an operator, ',' or ']'", OPEN_LIST, gr_op_name(c->op), open);
        }
    p->depth--;
    return gd_xp_advance(p);
}

/* One argument of a call: name=value, or an operand (before any keyword). */
static int parse_argument(parser *p, call *c) {
    tok next;
    if (p->cur.kind == T_NAME) {
        if (gd_xp_peek(p, &next) < 0) return -1;
        if (next.kind == T_EQUALS) {
            c->keyword_seen = 1;
            return parse_keyword(p, c);
        }
    }
    if (c->keyword_seen)
        return gd_xp_fail(p, p->cur.pos, 0, "an operand of %s follows a keyword argument: operands come first",
                    gr_op_name(c->op));
    if (p->cur.kind == T_STR && c->nargs == 0 && c->given == 0) {
        const gr_attr_def *d = leading_string_attr(c->op);
        if (d) return parse_attr_value(p, c, d, p->cur.pos);
    }
    if (p->cur.kind == T_LBRACKET) return parse_operand_list(p, c);
    return parse_operand(p, c);
}

/* The operand count and the required attributes of a finished call. */
static int check_call(parser *p, const call *c) {
    const char *name = gr_op_name(c->op);
    int arity = gr_op_arity(c->op);
    if (arity == GR_VARIADIC) {
        int lo = gr_op_min_operands(c->op);
        if (c->nargs < lo || c->nargs > GR_MAX_VARIADIC)
            return gd_xp_fail(p, c->name_pos, GD_EXPR_SIGNATURE, "%s takes %d to %d operands (a list [a, b, ...]), got %d",
                        name, lo, GR_MAX_VARIADIC, c->nargs);
    } else if (c->nargs != arity) {
        size_t pos = c->nargs > arity ? c->extra_pos : c->name_pos;
        if (arity == 0) return gd_xp_fail(p, pos, GD_EXPR_SIGNATURE, "%s takes no operands, got %d", name, c->nargs);
        if (c->nargs == 2 && arity == 1 && (!strcmp(name, "max") || !strcmp(name, "min")))
            return gd_xp_fail(p, pos, GD_EXPR_SIGNATURE, "%s reduces one tensor; the elementwise %s of two is %simum(a, b)",
                        name, name[1] == 'a' ? "maximum" : "minimum", name);
        return gd_xp_fail(p, pos, GD_EXPR_SIGNATURE, "%s takes %d operand%s, got %d", name, arity, arity == 1 ? "" : "s",
                    c->nargs);
    }
    gr_attr_mask missing = gr_op_required_attrs(c->op) & ~c->given;
    for (int i = 0; i < GR_ATTR_COUNT; i++)
        if (missing & GR_ATTR_BIT(i))
            return gd_xp_fail(p, c->name_pos, GD_EXPR_SIGNATURE, "%s needs the attribute '%s'", name,
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
        gd_xp_quote(p, p->cur.pos, p->cur.end, q, sizeof q);
        const char *near = gd_nearest(p->src + p->cur.pos, n, gd_op_name_at, NULL);
        if (near) gd_xp_fail(p, p->cur.pos, GD_EXPR_UNKNOWN_OP, "unknown op %s; did you mean '%s'?", q, near);
        else gd_xp_fail(p, p->cur.pos, GD_EXPR_UNKNOWN_OP, "unknown op %s (GET /v1/ops lists them)", q);
    }
    return op;
}

/* name(args...) where name is an op of lib's table; one level deeper. */
static NOINLINE int parse_call(parser *p) {
    call c;
    memset(&c, 0, sizeof c);
    c.name_pos = p->cur.pos;
    c.base = p->argn;
    if (!(c.op = find_op(p))) return -1;
    if (enter(p, c.name_pos) < 0 || gd_xp_advance(p) < 0 || gd_xp_advance(p) < 0) return -1; /* name, '(' */
    if (p->cur.kind != T_RPAREN)
        for (;;) {
            if (parse_argument(p, &c) < 0) return -1;
            if (p->cur.kind == T_COMMA) {
                if (gd_xp_advance(p) < 0) return -1;
                continue;
            }
            if (p->cur.kind == T_RPAREN) break;
            return gd_xp_unclosed(p, "an operator, ',' or ')'", OPEN_CALL, gr_op_name(c.op), c.name_pos);
        }
    if (gd_xp_advance(p) < 0 || check_call(p, &c) < 0) return -1;
    int id = op_node(p, c.op, c.name_pos, c.nargs ? p->argstack + c.base : NULL, c.nargs, &c.attrs);
    p->argn = c.base; /* the operands are the node's now */
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
            return gd_xp_fail(p, 0, 0, "libgrad has no op '%s' for an operator", operator_ops[i]);
    if (p->len > 0 && !p->src) return gd_xp_fail(p, 0, 0, "no source text");
    if (gd_xp_lex(p, 0, &p->cur) < 0) return -1;
    if (p->cur.kind == T_END) return gd_xp_fail(p, p->cur.pos, 0, "the expression is empty");
    if (parse_compare(p) < 0) return -1;
    if (p->cur.kind == T_END) return 0;
    if (p->cur.kind == T_RPAREN) return gd_xp_fail(p, p->cur.pos, 0, "unbalanced ')': there is no '(' to close");
    return gd_xp_fail_found(p, "expected an operator or the end");
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
    if (!e) return gd_xp_fail(&p, 0, 0, "no result given");
    e->nodes = NULL;
    e->n = 0;
    e->root = -1;
    if (len > l.max_len) {
        p.len = l.max_len; /* gd_xp_where() reads no further */
        return gd_xp_fail(&p, l.max_len, 1, "the expression is %zu bytes, over the limit of %zu", len, l.max_len);
    }
    int rc = parse_all(&p);
    free(p.argstack);
    if (rc < 0) {
        gd_expr e_partial = {p.nodes, p.n, -1};
        gd_expr_free(&e_partial);
        return -1;
    }
    e->nodes = p.nodes;
    e->n = p.n;
    e->root = p.n - 1;
    return 0;
}

void gd_expr_free(gd_expr *e) {
    if (!e) return;
    for (int i = 0; i < e->n; i++) {
        free(e->nodes[i].args_all);
        free(e->nodes[i].attrs);
    }
    free(e->nodes);
    e->nodes = NULL;
    e->n = 0;
    e->root = -1;
}

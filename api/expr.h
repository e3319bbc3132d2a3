/* expr.h -- the expression language of graph nodes and of the short form
 * "graph": "<expression>": numbers, names, + - * / ^ @, unary minus,
 * parentheses, and calls of any op of lib's table by name with keyword
 * attributes: sum(x, axis=1), sum(x, axes=[0, 1], keepdims=true),
 * reshape(h, shape=[-1]), cross_entropy(logits, y), maximum(w*x, 0).
 * An op over a list of tensors (concat, stack) takes its operands as a
 * list literal, concat([a, b, c], axis=0), or one by one, concat(a, b, c).
 * A string attribute value is quoted: 'text' or "text" (no escapes).
 *
 * Precedence, loosest first: + - (left); * / @ (left); unary - and +;
 * ^ (right-associative, binds tighter than unary minus: -x^2 is -(x^2),
 * 2^-1 is 2^(-1)). Parsing is recursive descent with an explicit depth
 * bound, so no input can exhaust the stack. */
#ifndef GRADD_EXPR_H
#define GRADD_EXPR_H

#include <stddef.h>

#include "err.h"
#include "grad.h"

typedef enum gd_ex_kind { GD_EX_NUM, GD_EX_NAME, GD_EX_OP } gd_ex_kind;

typedef struct gd_ex_node {
    gd_ex_kind kind;
    double value;                  /* GD_EX_NUM: the literal (a leading minus folds in) */
    const char *name;              /* GD_EX_NAME: points into the source */
    size_t name_len;
    const gr_op *op;               /* GD_EX_OP */
    int nargs;
    int args[GR_MAX_OPERANDS];     /* GD_EX_OP: indices of earlier nodes (the first
                                      GR_MAX_OPERANDS of a longer list) */
    int *args_all;                 /* (nargs) all of them when nargs > GR_MAX_OPERANDS (a list
                                      of tensors: concat([a, b, c, d])), owned; else NULL */
    gr_attrs *attrs;               /* GD_EX_OP: keyword attributes, owned; NULL when none are
                                      given (a gr_attrs is over a kilobyte) */
    size_t pos;                    /* byte offset in the source where it starts */
} gd_ex_node;

/* The operand indices of op node x, x->nargs of them. */
static inline const int *gd_ex_args(const gd_ex_node *x) { return x->args_all ? x->args_all : x->args; }

/* A parsed expression: nodes in evaluation order (operands before the ops
 * that use them), the root last (root == n - 1). */
typedef struct gd_expr {
    gd_ex_node *nodes;   /* (n) */
    int n;
    int root;
} gd_expr;

typedef struct gd_expr_limits {
    size_t max_len;      /* bytes of source */
    int max_nodes;       /* nodes in the result */
    int max_depth;       /* nesting of parentheses, calls and operators */
} gd_expr_limits;

/* 64 KiB, 10,000 nodes, depth 200. */
gd_expr_limits gd_expr_limits_default(void);

/* What kind of mistake an expression holds: a syntax error is a
 * malformed request (400); the others parse but make no sense as a graph
 * (422), except a limit (413). */
typedef enum gd_expr_fault {
    GD_EXPR_SYNTAX = 0,
    GD_EXPR_LIMIT,       /* a limit was exceeded */
    GD_EXPR_UNKNOWN_OP,  /* a call of an op that is not in the table */
    GD_EXPR_SIGNATURE,   /* the wrong operand count, a missing attribute */
    GD_EXPR_ATTR         /* an attribute the attribute reader refused: code says which row */
} gd_expr_fault;

typedef struct gd_expr_error {
    size_t pos;          /* byte offset of the problem */
    int limit;           /* 1 when a limit was exceeded (HTTP 413), else 0 */
    gd_expr_fault fault;
    gd_code code;        /* GD_EXPR_ATTR: the error row, the same as the long form's (attrs.h) */
    char message[256];   /* names the column: "at column 7: expected ')' ..." */
} gd_expr_error;

/* Parse src[0..len) into *e. Returns 0, or -1 with *err filled (e is then
 * empty). Errors: syntax, an unknown op name in a call, the wrong number of
 * operands for the op, an unknown attribute for the op, an attribute value
 * of the wrong type or out of range (attrs.h: int, list of ints, bool
 * true/false/1/0, number, string 'text'), a repeated attribute, a
 * positional argument after a keyword one, or a limit. Names are [A-Za-z_][A-Za-z0-9_]* and are not looked up here. */
int gd_expr_parse(const char *src, size_t len, const gd_expr_limits *lim, gd_expr *e, gd_expr_error *err);

/* Free e's nodes; e may be empty. */
void gd_expr_free(gd_expr *e);

#endif

/* expr_impl.h -- what the expression parser (expr.c) and its lexer and
 * error reporting (expr_lex.c) share: tokens, the parser's state, and the
 * lexer's and error helpers' entry points. Private to api/expr*.c. */
#ifndef GRADD_EXPR_IMPL_H
#define GRADD_EXPR_IMPL_H

#include "expr.h"

#include <stddef.h>

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
    T_LT,    /* <  the comparisons, below arithmetic */
    T_LE,    /* <= */
    T_GT,    /* >  */
    T_GE,    /* >= */
    T_EQEQ,  /* == */
    T_NE,    /* != */
    T_COLON, /* : in an index, x[1:3] */
    T_ELLIPSIS, /* ... in an index, x[..., 0] */
    T_STR    /* 'text' or "text": an attribute value only */
} tok_kind;

/* One token: src[pos, end). T_END sits at len. */
typedef struct tok {
    tok_kind kind;
    size_t pos, end;
} tok;

/* The ops that the operators stand for, looked up once per parse. */
enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MATMUL, OP_NEG,           /* arithmetic */
    OP_LT, OP_LE, OP_GT, OP_GE, OP_EQ, OP_NE,                           /* comparisons */
    OP_SLICE, OP_SQUEEZE, OP_TAKE,                                      /* indexing */
    OP_COUNT
};

typedef struct parser {
    const char *src;
    size_t len;
    int max_nodes;
    int max_depth;           /* the caller's, capped at DEPTH_CEILING */
    int depth;               /* current nesting */
    gd_ex_node *nodes;       /* (cap), n used */
    int n, cap;
    int *argstack;           /* (argcap) operands of the calls being parsed, innermost last */
    int argn, argcap;
    tok cur;                 /* the next unconsumed token */
    const gr_op *ops[OP_COUNT];
    gd_expr_error *err;
} parser;

/* What an unclosed bracket opened. */
typedef enum opener { OPEN_GROUP, OPEN_CALL, OPEN_LIST, OPEN_INDEX } opener;

/* Record the error "at column N: <fmt>" at byte pos, of kind fault (0,
 * a syntax error, or 1, a limit, or another gd_expr_fault). Returns -1,
 * the failure value of every parse function. */
int gd_xp_fail(parser *p, size_t pos, int fault, const char *fmt, ...) __attribute__((format(printf, 4, 5))) NOINLINE;
/* src[pos, end) quoted for a message (gd_quote). */
void gd_xp_quote(const parser *p, size_t pos, size_t end, char *buf, size_t cap);
/* "<what>, found <the current token>" at the current token. */
int gd_xp_fail_found(parser *p, const char *what) NOINLINE;
/* The current token should have closed what opened at byte open: "missing
 * ')' to close the call of sum at column 1", or "expected <expected> to
 * close ..., found 'y'". */
int gd_xp_unclosed(parser *p, const char *expected, opener kind, const char *name, size_t open) NOINLINE;
/* The token that starts at or after byte i into *t; fails on a character
 * that starts no token. */
int gd_xp_lex(parser *p, size_t i, tok *t);
/* Consume the current token. */
int gd_xp_advance(parser *p);
/* The token after the current one, without consuming anything. */
int gd_xp_peek(parser *p, tok *t);

#endif

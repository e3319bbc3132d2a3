/* test_expr.c -- the expression parser: tables of expressions and the
 * trees they must give (written by hand in a canonical prefix form), of
 * bad expressions and the error (message, byte offset, limit flag) they
 * must give, and inputs 100,000 levels deep or long that must fail on a
 * limit instead of exhausting the stack. */
#include "testutil.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

/* ---- rendering a tree ------------------------------------------------ */

typedef struct sbuf {
    char s[1024];
    size_t k;
} sbuf;

static void put(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (b->k < sizeof b->s) {
        int w = vsnprintf(b->s + b->k, sizeof b->s - b->k, fmt, ap);
        if (w > 0) b->k += (size_t)w;
    }
    va_end(ap);
    assert_true(b->k < sizeof b->s);
}

static void put_list(sbuf *b, const char *name, const int *v, int n) {
    put(b, ",%s=[", name);
    for (int i = 0; i < n; i++) put(b, "%s%d", i ? "," : "", v[i]);
    put(b, "]");
}

/* The given attributes in gr_attr_id order: ",axes=[0,1],keepdims=true". */
static void put_attrs(sbuf *b, const gr_attrs *a) {
    if (a->set & GR_ATTR_BIT(GR_ATTR_AXES)) put_list(b, "axes", a->axes, a->naxes);
    if (a->set & GR_ATTR_BIT(GR_ATTR_KEEPDIMS)) put(b, ",keepdims=%s", a->keepdims ? "true" : "false");
    if (a->set & GR_ATTR_BIT(GR_ATTR_AXIS)) put(b, ",axis=%d", a->axis);
    if (a->set & GR_ATTR_BIT(GR_ATTR_SHAPE)) {
        put(b, ",shape=[");
        for (int i = 0; i < a->shape.rank; i++) put(b, "%s%lld", i ? "," : "", (long long)a->shape.dims[i]);
        put(b, "]");
    }
    if (a->set & GR_ATTR_BIT(GR_ATTR_PERM)) put_list(b, "perm", a->perm, a->nperm);
    if (a->set & GR_ATTR_BIT(GR_ATTR_TRANSPOSE_A)) put(b, ",transpose_a=%s", a->transpose_a ? "true" : "false");
    if (a->set & GR_ATTR_BIT(GR_ATTR_TRANSPOSE_B)) put(b, ",transpose_b=%s", a->transpose_b ? "true" : "false");
    if (a->set & GR_ATTR_BIT(GR_ATTR_VALUE)) put(b, ",value=%.15g", a->value);
    if (a->set & GR_ATTR_BIT(GR_ATTR_NUM_CLASSES)) put(b, ",num_classes=%lld", (long long)a->num_classes);
}

/* Prefix form of node id: numbers as %.15g, names as written, ops as
 * name(operands,attributes). Used on small trees only (it recurses). */
static void render(sbuf *b, const gd_expr *e, int id) {
    const gd_ex_node *x = &e->nodes[id];
    switch (x->kind) {
    case GD_EX_NUM: put(b, "%.15g", x->value); break;
    case GD_EX_NAME: put(b, "%.*s", (int)x->name_len, x->name); break;
    case GD_EX_OP: {
        const char *name = gr_op_name(x->op);
        put(b, "%s(", name);
        for (int i = 0; i < x->nargs; i++) {
            if (i) put(b, ",");
            render(b, e, gd_ex_args(x)[i]);
        }
        size_t before = b->k;
        if (x->attrs) put_attrs(b, x->attrs);
        /* A call with no operands renders "fill(shape=...)", not "fill(,...". */
        if (x->nargs == 0 && b->k > before) {
            memmove(b->s + before, b->s + before + 1, b->k - before);
            b->k--;
        }
        put(b, ")");
        break;
    }
    }
}

/* The structural promises of expr.h on a parsed src: root last, operands
 * before their ops, a tree (each node used once), arity respected, names
 * pointing into the source, positions inside it. */
static void check_shape(const char *src, size_t len, const gd_expr *e) {
    assert_true(e->n >= 1);
    assert_int_equal(e->root, e->n - 1);
    int *used = calloc((size_t)e->n, sizeof *used);
    assert_non_null(used);
    for (int i = 0; i < e->n; i++) {
        const gd_ex_node *x = &e->nodes[i];
        assert_true(x->pos < len);
        if (x->kind == GD_EX_NAME) {
            assert_ptr_equal(x->name, src + x->pos);
            assert_true(x->name_len > 0 && x->pos + x->name_len <= len);
        }
        if (x->kind != GD_EX_OP) continue;
        assert_non_null(x->op);
        if (gr_op_arity(x->op) == GR_VARIADIC) assert_true(x->nargs >= gr_op_min_operands(x->op));
        else assert_int_equal(x->nargs, gr_op_arity(x->op));
        for (int k = 0; k < x->nargs; k++) {
            assert_true(gd_ex_args(x)[k] >= 0 && gd_ex_args(x)[k] < i);
            used[gd_ex_args(x)[k]]++;
        }
    }
    for (int i = 0; i < e->n; i++) assert_int_equal(used[i], i == e->root ? 0 : 1);
    free(used);
}

/* Parse src with limits lim (NULL: defaults), failing the test on error. */
static void parse_ok(const char *src, const gd_expr_limits *lim, gd_expr *e) {
    gd_expr_error err;
    if (gd_expr_parse(src, strlen(src), lim, e, &err) != 0) fail_msg("'%s': %s", src, err.message);
    check_shape(src, strlen(src), e);
}

/* ---- trees ----------------------------------------------------------- */

static const struct {
    const char *src;
    const char *tree;
} tree_cases[] = {
    /* numbers and names */
    {"2", "2"},
    {"0.5", "0.5"},
    {".5", "0.5"},
    {"5.", "5"},
    {"1e-3", "0.001"},
    {"2.5E+4", "25000"},
    {"1E2", "100"},
    {"007", "7"},
    {"x", "x"},
    {"_a1", "_a1"},
    {"Wq_2", "Wq_2"},
    /* unary signs; a minus folds into a literal it applies to directly */
    {"-3", "-3"},
    {"- 3", "-3"},
    {"-0.25", "-0.25"},
    {"+3", "3"},
    {"+x", "x"},
    {"-x", "neg(x)"},
    {"-(3)", "neg(3)"},
    {"--3", "neg(-3)"},
    {"--x", "neg(neg(x))"},
    {"-+x", "neg(x)"},
    {"+-3", "-3"},
    /* every binary operator */
    {"a+b", "add(a,b)"},
    {"a-b", "sub(a,b)"},
    {"a*b", "mul(a,b)"},
    {"a/b", "div(a,b)"},
    {"a^b", "pow(a,b)"},
    {"a@b", "matmul(a,b)"},
    /* associativity */
    {"a-b-c", "sub(sub(a,b),c)"},
    {"a+b-c+d", "add(sub(add(a,b),c),d)"},
    {"a/b/c", "div(div(a,b),c)"},
    {"a*b/c", "div(mul(a,b),c)"},
    {"a@b@c", "matmul(matmul(a,b),c)"},
    {"2^3^2", "pow(2,pow(3,2))"},
    {"a^b^c^d", "pow(a,pow(b,pow(c,d)))"},
    /* precedence */
    {"a+b*c", "add(a,mul(b,c))"},
    {"a*b+c", "add(mul(a,b),c)"},
    {"a-b/c", "sub(a,div(b,c))"},
    {"a@b*c", "mul(matmul(a,b),c)"},
    {"a*b@c", "matmul(mul(a,b),c)"},
    {"a+b@c", "add(a,matmul(b,c))"},
    {"a*b^c", "mul(a,pow(b,c))"},
    {"a^b*c", "mul(pow(a,b),c)"},
    {"-x^2", "neg(pow(x,2))"},
    {"-2^2", "neg(pow(2,2))"},
    {"-3^2", "neg(pow(3,2))"},
    {"2^-1", "pow(2,-1)"},
    {"2^-x", "pow(2,neg(x))"},
    {"2^-3^2", "pow(2,neg(pow(3,2)))"},
    {"2^+x", "pow(2,x)"},
    {"-x*y", "mul(neg(x),y)"},
    {"-2*x", "mul(-2,x)"},
    {"a*-b", "mul(a,neg(b))"},
    {"a--b", "sub(a,neg(b))"},
    {"a - -3", "sub(a,-3)"},
    {"a+-b^2", "add(a,neg(pow(b,2)))"},
    {"-(a+b)", "neg(add(a,b))"},
    {"(a+b)*c", "mul(add(a,b),c)"},
    {"a*(b+c)", "mul(a,add(b,c))"},
    {"(x^2)^3", "pow(pow(x,2),3)"},
    {"x^(1+2)", "pow(x,add(1,2))"},
    {"(a)", "a"},
    {"((((a))))", "a"},
    /* whitespace anywhere between tokens */
    {" \ta\n+\r\n b\t", "add(a,b)"},
    {"sum ( x , axis = 1 )", "sum(x,axis=1)"},
    {"-\n3", "-3"},
    /* op names not followed by '(' are plain names */
    {"sum", "sum"},
    {"sum + exp * 2", "add(sum,mul(exp,2))"},
    {"exp (x)", "exp(x)"},
    {"true + false", "add(true,false)"},
    /* calls */
    {"sin(x)", "sin(x)"},
    {"exp(-x)", "exp(neg(x))"},
    {"sin(cos(x))", "sin(cos(x))"},
    {"where(c, a, b)", "where(c,a,b)"},
    {"maximum(a, b) + minimum(a, b)", "add(maximum(a,b),minimum(a,b))"},
    {"pow(x, 2)", "pow(x,2)"},
    {"neg(x)^2", "pow(neg(x),2)"},
    {"relu(w@x + b)", "relu(add(matmul(w,x),b))"},
    /* attributes of every type */
    {"sum(x, axis=1)", "sum(x,axis=1)"},
    {"sum(x, axis=-1)", "sum(x,axis=-1)"},
    {"sum(x, axis=+2)", "sum(x,axis=2)"},
    {"sum(x, axes=[0,1], keepdims=true)", "sum(x,axes=[0,1],keepdims=true)"},
    {"sum(x, keepdims=true, axes=[0, 1])", "sum(x,axes=[0,1],keepdims=true)"},
    {"sum(x, axes=[])", "sum(x,axes=[])"},
    {"sum(x, axes=[0,1,2,3,4,5,6,7])", "sum(x,axes=[0,1,2,3,4,5,6,7])"},
    {"mean(x, keepdims=false)", "mean(x,keepdims=false)"},
    {"max(x, keepdims=1)", "max(x,keepdims=true)"},
    {"max(x, axis=0, keepdims=0)", "max(x,keepdims=false,axis=0)"},
    {"reshape(h, shape=[-1, 4])", "reshape(h,shape=[-1,4])"},
    {"reshape(h, shape=[])", "reshape(h,shape=[])"},
    {"transpose(x, perm=[1, 0])", "transpose(x,perm=[1,0])"},
    {"transpose(x)", "transpose(x)"},
    {"matmul(a, b, transpose_b=true)", "matmul(a,b,transpose_b=true)"},
    {"matmul(a, b, transpose_a=true, transpose_b=false)", "matmul(a,b,transpose_a=true,transpose_b=false)"},
    {"fill(shape=[2,3], value=0.5)", "fill(shape=[2,3],value=0.5)"},
    {"fill(value=-2, shape=[])", "fill(shape=[],value=-2)"},
    {"fill(shape=[2], value=1e3)", "fill(shape=[2],value=1000)"},
    {"fill(shape=[2], value=-.5e-1)", "fill(shape=[2],value=-0.05)"},
    {"softmax(x, axis=0)", "softmax(x,axis=0)"},
    {"log_softmax(x, axis=-1)", "log_softmax(x,axis=-1)"},
    {"one_hot(y, num_classes=10)", "one_hot(y,num_classes=10)"},
    {"one_hot(y, num_classes=9223372036854775807)", "one_hot(y,num_classes=9223372036854775807)"},
    {"sum(sum(x, axis=0) * 2, keepdims=true)", "sum(mul(sum(x,axis=0),2),keepdims=true)"},
    /* lists of tensors: the operands of concat and stack, any number */
    {"concat([a, b, c, d, e], axis=1)", "concat(a,b,c,d,e,axis=1)"},
    {"concat([a])", "concat(a)"},
    {"concat(a, b, c, d)", "concat(a,b,c,d)"},
    {"stack([x * 2, sin(y), 1], axis=-1)", "stack(mul(x,2),sin(y),1,axis=-1)"},
    {"concat([concat([a, b, c, d]), stack([a, b, c, d, e, f])])", "concat(concat(a,b,c,d),stack(a,b,c,d,e,f))"},
    /* comparisons below arithmetic, ** as ^, the literals inf and nan */
    {"a + 1 < b * 2", "less(add(a,1),mul(b,2))"},
    {"a <= b", "less_equal(a,b)"},
    {"a > -b", "greater(a,neg(b))"},
    {"a >= b ^ 2", "greater_equal(a,pow(b,2))"},
    {"(a == b) * x", "mul(equal(a,b),x)"},
    {"a != b", "not_equal(a,b)"},
    {"where(x > 0, x, 0)", "where(greater(x,0),x,0)"},
    {"x ** 2", "pow(x,2)"},
    {"x ** -y ** 2", "pow(x,neg(pow(y,2)))"},
    {"x * inf", "mul(x,inf)"},
    {"-inf + nan", "add(neg(inf),nan)"},
    {"maximum(x, -inf)", "maximum(x,neg(inf))"},
    /* NumPy indexing: slice (axes shown), squeeze of integer items, take for a tensor */
    {"x[0]", "squeeze(slice(x,axes=[0]),axes=[0])"},
    {"x[:, 1:3]", "slice(x,axes=[1])"},
    {"x[..., -1]", "squeeze(slice(x,axes=[-1]),axes=[-1])"},
    {"x[ids]", "take(x,ids,axis=0)"},
    {"x[:, ids + 1]", "take(x,add(ids,1),axis=1)"},
    {"x[:]", "x"},
    {"x[0]^2", "pow(squeeze(slice(x,axes=[0]),axes=[0]),2)"},
    {"sum(x, axis=0)[1]", "squeeze(slice(sum(x,axis=0),axes=[0]),axes=[0])"},
    /* the examples of the issue */
    {"(a+b)*(b+1)", "mul(add(a,b),add(b,1))"},
    {"1/(y+exp(-x))", "div(1,add(y,exp(neg(x))))"},
    {"maximum(w*x, 0)", "maximum(mul(w,x),0)"},
    {"(maximum(w*x, 0) - y)^2 + z", "add(pow(sub(maximum(mul(w,x),0),y),2),z)"},
    {"cross_entropy(logits, y)", "cross_entropy(logits,y)"},
    {"x*y + sin(x)", "add(mul(x,y),sin(x))"},
    {"mean((w@x + b - y)^2)", "mean(pow(sub(add(matmul(w,x),b),y),2))"},
};

static void test_trees(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof tree_cases / sizeof tree_cases[0]; i++) {
        const char *src = tree_cases[i].src;
        gd_expr e;
        parse_ok(src, NULL, &e);
        sbuf b = {.k = 0};
        render(&b, &e, e.root);
        if (strcmp(b.s, tree_cases[i].tree) != 0)
            fail_msg("'%s' parsed as %s, expected %s", src, b.s, tree_cases[i].tree);
        gd_expr_free(&e);
        assert_null(e.nodes);
        assert_int_equal(e.n, 0);
    }
}

/* Positions: every node starts where its text starts (a binary op where
 * its left operand's text starts, a folded literal at its minus sign). */
static void test_positions_and_names(void **state) {
    (void)state;
    gd_expr e;
    const char *src = "  -3 * (a+bc) - sum(x, axis=0)";
    parse_ok(src, NULL, &e);
    /* nodes: -3, a, bc, add, mul, x, sum, sub */
    assert_int_equal(e.n, 8);
    assert_int_equal(e.nodes[0].kind, GD_EX_NUM);
    assert_int_equal(e.nodes[0].pos, 2);
    assert_true(e.nodes[0].value == -3.0);
    assert_int_equal(e.nodes[1].kind, GD_EX_NAME);
    assert_int_equal(e.nodes[1].pos, 8);
    assert_int_equal(e.nodes[1].name_len, 1);
    assert_int_equal(e.nodes[2].pos, 10);
    assert_int_equal(e.nodes[2].name_len, 2);
    assert_int_equal(strncmp(e.nodes[2].name, "bc", 2), 0);
    assert_int_equal(e.nodes[3].pos, 8);   /* add: at 'a' inside the parentheses */
    assert_int_equal(e.nodes[4].pos, 2);   /* mul: at '-3' */
    assert_int_equal(e.nodes[5].pos, 20);  /* x */
    assert_int_equal(e.nodes[6].pos, 16);  /* sum: at its name */
    assert_ptr_equal(e.nodes[6].op, gr_op_find("sum"));
    assert_int_equal(e.nodes[6].attrs->set, GR_ATTR_BIT(GR_ATTR_AXIS));
    assert_int_equal(e.nodes[7].pos, 2);   /* sub */
    assert_ptr_equal(e.nodes[7].op, gr_op_find("sub"));
    gd_expr_free(&e);

    parse_ok("-3^2", NULL, &e); /* 3, 2, pow, neg */
    assert_int_equal(e.n, 4);
    assert_int_equal(e.nodes[0].pos, 1);
    assert_int_equal(e.nodes[2].pos, 1);
    assert_int_equal(e.nodes[3].pos, 0);
    assert_ptr_equal(e.nodes[3].op, gr_op_find("neg"));
    gd_expr_free(&e);

    /* The same name twice is two nodes (names are not looked up here). */
    parse_ok("x*x", NULL, &e);
    assert_int_equal(e.n, 3);
    gd_expr_free(&e);

    /* Only the attributes given are set. */
    parse_ok("matmul(a, b)", NULL, &e);
    assert_null(e.nodes[e.root].attrs);
    gd_expr_free(&e);
    parse_ok("sum(x, axes=[1, -1], keepdims=true)", NULL, &e);
    const gr_attrs *a = e.nodes[e.root].attrs;
    assert_int_equal(a->set, GR_ATTR_BIT(GR_ATTR_AXES) | GR_ATTR_BIT(GR_ATTR_KEEPDIMS));
    assert_int_equal(a->naxes, 2);
    assert_int_equal(a->axes[1], -1);
    gd_expr_free(&e);

    /* A literal exactly: strtod's correctly rounded value. */
    parse_ok("0.1", NULL, &e);
    assert_true(e.nodes[0].value == 0.1);
    gd_expr_free(&e);
    parse_ok("-0", NULL, &e);
    assert_true(e.nodes[0].value == 0.0);
    gd_expr_free(&e);
    /* A long literal goes through a heap copy. */
    char longnum[300];
    memset(longnum, '0', sizeof longnum);
    longnum[0] = '.';
    longnum[sizeof longnum - 2] = '5';
    longnum[sizeof longnum - 1] = '\0';
    parse_ok(longnum, NULL, &e);
    assert_true(e.nodes[0].value == 5e-298);
    gd_expr_free(&e);
    parse_ok("1e-400", NULL, &e); /* underflow is zero, not an error */
    assert_true(e.nodes[0].value == 0.0);
    gd_expr_free(&e);
}

/* ---- errors ---------------------------------------------------------- */

/* src must fail with a message containing want, at the last occurrence
 * of at in src (NULL: at the end of src), with limit 0. */
static const struct {
    const char *src;
    const char *want;
    const char *at;
} error_cases[] = {
    /* lists of tensors */
    {"concat([])", "concat takes 1 to", "concat"},
    {"add([a, b])", "add takes tensors, not a list of them", "["},
    {"concat([a, b)", "expected an operator, ',' or ']' to close the list 'concat'", ")"},
    {"concat([a, b], c", "missing ')' to close the call of concat", NULL},
    /* characters and numbers */
    {"", "the expression is empty", NULL},
    {" \n\t", "the expression is empty", NULL},
    {"a $ b", "unexpected character '$'", "$"},
    {"a + \xc3\xa9", "unexpected byte 0xc3", "\xc3"},
    {"a\x01", "unexpected byte 0x01", "\x01"},
    {"x.y", "unexpected character '.'", "."},
    {"a = b", "expected an operator or the end, found '='", "="},
    {"a;", "unexpected character ';'", ";"},
    {"1e", "the number '1e' has no digits in its exponent", NULL},
    {"2e+", "the number '2e+' has no digits in its exponent", NULL},
    {"3ex", "has no digits in its exponent", "x"},
    {"1e999", "the number '1e999' is too large", "1e999"},
    {"-1e999", "too large", "1e999"},
    /* comparisons do not chain; a misspelled op is named; max is not maximum */
    {"a < b < c", "comparisons do not chain: write logical_and(a < b, b < c)", "< c"},
    {"a == b != c", "comparisons do not chain", "!= c"},
    {"a = = b", "expected an operator or the end, found '='", "= = b"},
    {"a ! b", "unexpected character '!'", "! b"},
    {"rleu(x)", "unknown op 'rleu'; did you mean 'relu'?", "rleu"},
    {"sigmiod(x)", "unknown op 'sigmiod'; did you mean 'sigmoid'?", "sigmiod"},
    {"zzzzzzz(x)", "unknown op 'zzzzzzz' (GET /v1/ops lists them)", "zzzzzzz"},
    {"max(x, 0)", "max reduces one tensor; the elementwise maximum of two is maximum(a, b)", "0)"},
    {"min(x, y)", "the elementwise minimum of two is minimum(a, b)", "y)"},
    /* indexing */
    {"x[]", "an index needs at least one item", "]"},
    {"x[1:2:0]", "a slice step cannot be zero", "]"},
    {"x[..., 0, ...]", "an index can have only one '...'", "[..., 0, ...]"},
    {"x[a, b]", "an index can hold one tensor of indices (take)", "[a, b]"},
    {"x[a, 0]", "an index mixes a tensor of indices with integers", "[a, 0]"},
    {"x[0.5]", "an index is a whole number, not 0.5", "0.5]"},
    {"x[1e30]", "an index is a whole number, not 1", "1e30]"}, /* the fuzzer's: no cast of a huge number */
    {"x[1", "missing ']' to close the index '[' at column 2", NULL},
    {"x[1 2]", "expected ',' or ']' to close the index '[' at column 2, found '2'", "2]"},
    {"x[0, 0, 0, 0, 0, 0, 0, 0, 0]", "an index has at most 8 items", "0]"},
    /* unexpected ends and tokens */
    {"a +", "unexpected end of the expression: expected an operand", NULL},
    {"-", "unexpected end of the expression", NULL},
    {"2^", "unexpected end of the expression", NULL},
    {"a * * b", "expected an operand, found '*'", "* b"},
    {"a b", "expected an operator or the end, found 'b'", "b"},
    {"2x", "expected an operator or the end, found 'x'", "x"},
    {"1.5.3", "expected an operator or the end, found '.3'", ".3"},
    {"a, b", "expected an operator or the end, found ','", ","},
    {"[1]", "expected an operand, found '['", "["},
    /* parentheses */
    {"(a+b", "missing ')' to close the '(' at column 1", NULL},
    {"((a)", "missing ')' to close the '(' at column 1", NULL},
    {"(a) (b)", "expected an operator or the end, found '('", "(b"},
    {"a+b)", "unbalanced ')': there is no '(' to close", ")"},
    {"sum(x))", "unbalanced ')'", ")"},
    {"()", "expected an operand, found ')'", ")"},
    {"(a b)", "expected an operator or ')' to close the '(' at column 1, found 'b'", "b"},
    {"(a+)", "expected an operand, found ')'", ")"},
    /* calls */
    {"sume(x)", "unknown op 'sume'", "sume"},
    {"Sum(x)", "unknown op 'Sum'", "Sum"},
    {"y + f(x)", "unknown op 'f'", "f"},
    {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa(x)",
     "unknown op 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa(x)"},
    {"sum(x", "missing ')' to close the call of sum at column 1", NULL},
    {"y + sum(x, axis=1", "missing ')' to close the call of sum at column 5", NULL},
    {"sum(x y)", "expected an operator, ',' or ')' to close the call of sum at column 1, found 'y'", "y"},
    {"sum(x,)", "expected an operand, found ')'", ")"},
    {"sum(,x)", "expected an operand, found ','", ","},
    /* operand counts */
    {"matmul(a)", "matmul takes 2 operands, got 1", "matmul"},
    {"sin()", "sin takes 1 operand, got 0", "sin"},
    {"sin(x, y)", "sin takes 1 operand, got 2", "y"},
    {"where(a, b, c, d, e)", "where takes 3 operands, got 5", "d"},
    {"fill(x, shape=[1], value=1)", "fill takes no operands, got 1", "x"},
    {"cross_entropy(logits)", "cross_entropy takes 2 operands, got 1", "cross"},
    /* attribute names */
    {"sum(x, axs=1)", "sum has no attribute 'axs' (it takes axes, keepdims, axis)", "axs"},
    {"sin(x, axis=1)", "sin has no attribute 'axis' (it takes none)", "axis"},
    {"softmax(x, keepdims=true)", "softmax has no attribute 'keepdims' (it takes axis)", "keepdims"},
    {"matmul(a, b, transpose=true)", "(it takes transpose_a, transpose_b)", "transpose="},
    {"sum(x, an_attribute_name_far_longer_than_any=1)", "sum has no attribute 'an_attribute_name", "an_attribute"},
    {"sum(x, axis=1, axis=2)", "attribute 'axis' of sum is given twice", "axis=2"},
    {"sum(x, keepdims=true, axes=[0], keepdims=false)", "attribute 'keepdims' of sum is given twice", "keepdims=f"},
    {"sum(axis=1, x)", "an operand of sum follows a keyword argument: operands come first", "x)"},
    {"matmul(a, transpose_a=true, b)", "an operand of matmul follows a keyword argument", "b)"},
    /* attribute values of the wrong type */
    {"sum(x, axis=1.5)", "attribute 'axis' of sum takes an integer, found '1.5'", "1.5"},
    {"sum(x, axis=1e2)", "attribute 'axis' of sum takes an integer, found '1e2'", "1e2"},
    {"sum(x, axis=[1])", "attribute 'axis' of sum takes an integer, found '['", "["},
    {"sum(x, axis=true)", "attribute 'axis' of sum takes an integer, found 'true'", "true"},
    {"sum(x, axis=y)", "attribute 'axis' of sum takes an integer, found 'y'", "y"},
    {"sum(x, axis=-y)", "attribute 'axis' of sum takes an integer, found '-y'", "-y"},
    {"sum(x, axis=)", "attribute 'axis' of sum takes an integer, found ')'", ")"},
    {"sum(x, axis=", "attribute 'axis' of sum takes an integer, found the end", NULL},
    {"sum(x, axes=1)", "attribute 'axes' of sum takes a list of integers such as [0, 1], found '1'", "1"},
    {"sum(x, axes=(0, 1))", "takes a list of integers such as [0, 1], found '('", "("},
    {"sum(x, keepdims=2)", "attribute 'keepdims' of sum takes true or false, found '2'", "2"},
    {"sum(x, keepdims=-1)", "attribute 'keepdims' of sum takes true or false, found '-1'", "-1"},
    {"sum(x, keepdims=1.0)", "takes true or false, found '1.0'", "1.0"},
    {"sum(x, keepdims=yes)", "attribute 'keepdims' of sum takes true or false, found 'yes'", "yes"},
    {"sum(x, keepdims=True)", "takes true or false, found 'True'", "True"},
    {"matmul(a, b, transpose_b=[1])", "attribute 'transpose_b' of matmul takes true or false, found '['", "["},
    {"fill(shape=[2], value=true)", "attribute 'value' of fill takes a number, found 'true'", "true"},
    {"fill(shape=[2], value=x)", "attribute 'value' of fill takes a number, found 'x'", "x)"},
    {"fill(shape=[2], value=1/2)", "expected an operator, ',' or ')' to close the call of fill", "/"},
    {"reshape(x, shape=[1.5])", "the entries of 'shape' are integers, found '1.5'", "1.5"},
    {"reshape(x, shape=[a])", "the entries of 'shape' are integers, found 'a'", "a]"},
    {"reshape(x, shape=[[1]])", "the entries of 'shape' are integers, found '['", "[1"},
    {"reshape(x, shape=[1,])", "the entries of 'shape' are integers, found ']'", "])"},
    {"reshape(x, shape=[1 2])", "expected ',' or ']' to close the list 'shape' at column 18, found '2'", "2"},
    {"reshape(x, shape=[1, 2)", "expected ',' or ']' to close the list 'shape' at column 18, found ')'", ")"},
    {"reshape(x, shape=[1, 2", "missing ']' to close the list 'shape' at column 18", NULL},
    /* lists longer than GR_MAX_RANK, integers out of range */
    {"reshape(x, shape=[1,1,1,1,1,1,1,1,9])", "'shape' has more than 8 entries", "9"},
    {"sum(x, axes=[0,1,2,3,4,5,6,7,8,9,10])", "'axes' has more than 8 entries", "8"},
    {"one_hot(y, num_classes=9223372036854775808)", "the integer '9223372036854775808' is out of range", "9223"},
    {"one_hot(y, num_classes=-9223372036854775809)", "the integer '-9223372036854775809' is out of range", "-"},
    {"sum(x, axes=[99999999999999999999999])", "the integer '99999999999999999999999' is out of range", "99999999999999999999999"},
    {"one_hot(y, num_classes=-9223372036854775808)",
     "attribute 'num_classes' is -9223372036854775808, outside its range 0 to 9223372036854775807", "-9223"},
    {"sum(x, axis=1001)", "attribute 'axis' is 1001, outside its range -8 to 7", "1001"},
    {"sum(x, axis=-5000)", "attribute 'axis' is -5000, outside its range -8 to 7", "-5000"},
    {"sum(x, axis=8)", "attribute 'axis' is 8, outside its range -8 to 7", "8"},
    {"softmax(x, axis=-9)", "attribute 'axis' is -9, outside its range -8 to 7", "-9"},
    {"reshape(x, shape=[2, -2])", "attribute 'shape' entry 1 is -2, outside its range -1 to", "[2"},
    {"transpose(x, perm=[0, 5000])", "attribute 'perm' entry 1 is 5000, outside its range -8 to 7", "[0"},
    {"sum(x, axes=[0, -9])", "attribute 'axes' entry 1 is -9, outside its range -8 to 7", "[0"},
    {"fill(shape=[1], value=1e400)", "attribute 'value' is not a finite number", "1e400"},
    /* strings: a value of their own, refused where a string is not taken */
    {"sum(x, axis='a')", "attribute 'axis' of sum takes an integer, found ''a''", "'a'"},
    {"sum(x, keepdims=\"true\")", "attribute 'keepdims' of sum takes true or false, found '\"true\"'", "\"true"},
    {"sum(x, axes=['a'])", "the entries of 'axes' are integers, found ''a''", "'a'"},
    {"sum(x, axis='a)", "the string starting here has no closing '", "'a)"},
    {"'a' + x", "expected an operand, found ''a''", "'a'"},
    /* required attributes */
    {"reshape(x)", "reshape needs the attribute 'shape'", "reshape"},
    {"fill(shape=[2])", "fill needs the attribute 'value'", "fill"},
    {"one_hot(y)", "one_hot needs the attribute 'num_classes'", "one_hot"},
};

/* Column of byte pos in a source without newlines. */
static void want_column(const gd_expr_error *err) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "at column %zu: ", err->pos + 1);
    if (strncmp(err->message, prefix, strlen(prefix)) != 0)
        fail_msg("message '%s' does not start with '%s'", err->message, prefix);
}

static void test_errors(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const char *src = error_cases[i].src;
        size_t len = strlen(src);
        size_t want_pos = len;
        if (error_cases[i].at) {
            const char *hit = strstr(src, error_cases[i].at), *later;
            assert_non_null(hit);
            while ((later = strstr(hit + 1, error_cases[i].at))) hit = later;
            want_pos = (size_t)(hit - src);
        }
        gd_expr e = {.nodes = (gd_ex_node *)&e, .n = 7, .root = 3};
        gd_expr_error err;
        if (gd_expr_parse(src, len, NULL, &e, &err) == 0) fail_msg("'%s' parsed; expected '%s'", src, error_cases[i].want);
        if (!strstr(err.message, error_cases[i].want))
            fail_msg("'%s' failed with '%s'; expected '%s'", src, err.message, error_cases[i].want);
        if (err.pos != want_pos)
            fail_msg("'%s' failed at byte %zu; expected %zu (%s)", src, err.pos, want_pos, err.message);
        assert_int_equal(err.limit, 0);
        if (!strchr(src, '\n')) want_column(&err);
        /* e is empty after an error */
        assert_null(e.nodes);
        assert_int_equal(e.n, 0);
        gd_expr_free(&e);
    }
}

/* Sources with newlines name the line as well. */
/* Bytes a message quotes from the source come out as \xHH: the two
 * inputs the fuzzer found (a string literal and a bad number holding
 * non-ASCII bytes) give ASCII messages. */
static void test_messages_are_ascii(void **state) {
    (void)state;
    static const char *const srcs[] = {"777'\xf1\xae" "77'\xf1\xae" "7", "\"33e\xc5" "6AjAjAAIAAa", "sum(x, axis='\xff')",
                                       "f\xc3\xa9" "(x)"};
    for (size_t i = 0; i < sizeof srcs / sizeof *srcs; i++) {
        gd_expr e;
        gd_expr_error err;
        if (gd_expr_parse(srcs[i], strlen(srcs[i]), NULL, &e, &err) == 0) {
            gd_expr_free(&e);
            continue;
        }
        for (const char *m = err.message; *m; m++)
            if ((unsigned char)*m > 0x7e || (unsigned char)*m < 0x20) fail_msg("not ASCII: %s", err.message);
    }
}

static void test_error_lines(void **state) {
    (void)state;
    gd_expr e;
    gd_expr_error err;
    const char *src = "a +\n  b *\n\t$";
    assert_int_equal(gd_expr_parse(src, strlen(src), NULL, &e, &err), -1);
    assert_int_equal(err.pos, 11);
    assert_string_equal(err.message, "at line 3, column 2: unexpected character '$'");
    src = "(a +\n b";
    assert_int_equal(gd_expr_parse(src, strlen(src), NULL, &e, &err), -1);
    assert_string_equal(err.message, "at line 2, column 3: missing ')' to close the '(' at column 1");
    src = "x\n\n+ (\n y";
    assert_int_equal(gd_expr_parse(src, strlen(src), NULL, &e, &err), -1);
    assert_string_equal(err.message, "at line 4, column 3: missing ')' to close the '(' at line 3, column 3");
    /* Full messages, exactly. */
    src = "sum(x, axs=1)";
    assert_int_equal(gd_expr_parse(src, strlen(src), NULL, &e, &err), -1);
    assert_string_equal(err.message, "at column 8: sum has no attribute 'axs' (it takes axes, keepdims, axis)");
    src = "matmul(a)";
    assert_int_equal(gd_expr_parse(src, strlen(src), NULL, &e, &err), -1);
    assert_string_equal(err.message, "at column 1: matmul takes 2 operands, got 1");
    /* The source is src[0, len): what follows is not read. */
    assert_int_equal(gd_expr_parse("a+b$", 3, NULL, &e, &err), 0);
    gd_expr_free(&e);
    assert_int_equal(gd_expr_parse("a+b", 2, NULL, &e, &err), -1);
    assert_int_equal(err.pos, 2);
    /* A NUL inside the source is a bad byte, not an end. */
    assert_int_equal(gd_expr_parse("a\0b", 3, NULL, &e, &err), -1);
    assert_non_null(strstr(err.message, "unexpected byte 0x00"));
    /* err may be NULL; e is still emptied. */
    assert_int_equal(gd_expr_parse("a+", 2, NULL, &e, NULL), -1);
    assert_null(e.nodes);
    assert_int_equal(gd_expr_parse(NULL, 0, NULL, &e, &err), -1);
    assert_non_null(strstr(err.message, "empty"));
}

/* ---- limits ---------------------------------------------------------- */

/* src (len bytes) must fail on a limit at byte pos with want in the message. */
static void want_limit(const char *src, size_t len, const gd_expr_limits *lim, size_t pos, const char *want) {
    gd_expr e;
    gd_expr_error err;
    assert_int_equal(gd_expr_parse(src, len, lim, &e, &err), -1);
    if (!strstr(err.message, want)) fail_msg("failed with '%s'; expected '%s'", err.message, want);
    if (err.pos != pos) fail_msg("failed at byte %zu; expected %zu (%s)", err.pos, pos, err.message);
    assert_int_equal(err.limit, 1);
    assert_null(e.nodes);
    assert_int_equal(e.n, 0);
}

/* A string of n copies of unit, then tail, then n copies of close. */
static char *repeat(const char *unit, size_t n, const char *tail, const char *close) {
    size_t u = strlen(unit), t = strlen(tail), c = strlen(close);
    char *s = malloc(n * (u + c) + t + 1);
    assert_non_null(s);
    char *q = s;
    for (size_t i = 0; i < n; i++, q += u) memcpy(q, unit, u);
    memcpy(q, tail, t);
    q += t;
    for (size_t i = 0; i < n; i++, q += c) memcpy(q, close, c);
    *q = '\0';
    return s;
}

static void test_limit_len_and_nodes(void **state) {
    (void)state;
    gd_expr_limits def = gd_expr_limits_default();
    assert_int_equal(def.max_len, 65536);
    assert_int_equal(def.max_nodes, 10000);
    assert_int_equal(def.max_depth, 200);

    gd_expr_limits lim = def;
    lim.max_len = 5;
    gd_expr e;
    parse_ok("a+b+c", &lim, &e); /* exactly at the limit */
    gd_expr_free(&e);
    want_limit("a+b+cd", 6, &lim, 5, "the expression is 6 bytes, over the limit of 5");

    char *big = repeat("x", 65537, "", "");
    want_limit(big, 65537, NULL, 65536, "over the limit of 65536");
    free(big);

    lim = def;
    lim.max_nodes = 3;
    parse_ok("a+b", &lim, &e);
    gd_expr_free(&e);
    /* The fourth node (c) is made while the parser stands on it. */
    want_limit("a+b+c", 5, &lim, 4, "the expression has more than 3 nodes");
    want_limit("sin(sin(sin(x)))", 16, &lim, 16, "more than 3 nodes");
    lim.max_nodes = 0;
    want_limit("x", 1, &lim, 0, "more than 0 nodes");

    /* "x+x+...+x", 100,000 terms: 10,000 nodes with the default limit. */
    big = repeat("x+", 99999, "x", "");
    lim = def;
    lim.max_len = 1u << 20;
    /* Node 10,000 (0-based) is the add made after x number 5,000 (at byte
     * 10,000), with the parser on the '+' after it. */
    want_limit(big, strlen(big), &lim, 10001, "the expression has more than 10000 nodes");

    /* With room, the chain parses left-associatively and flat (no depth). */
    lim.max_nodes = 200000;
    assert_int_equal(gd_expr_parse(big, strlen(big), &lim, &e, NULL), 0);
    assert_int_equal(e.n, 199999);
    assert_int_equal(e.root, e.n - 1);
    const gr_op *add = gr_op_find("add");
    for (int id = e.root, k = 99999; k > 0; k--) {
        const gd_ex_node *x = &e.nodes[id];
        assert_ptr_equal(x->op, add);
        assert_int_equal(e.nodes[x->args[1]].pos, 2 * (size_t)k);
        id = x->args[0];
        if (k == 1) assert_int_equal(e.nodes[id].pos, 0);
    }
    gd_expr_free(&e);
    free(big);
}

static void test_limit_depth(void **state) {
    (void)state;
    gd_expr e;
    gd_expr_limits lim = gd_expr_limits_default();
    lim.max_len = 1u << 22;

    /* 200 levels pass with the default depth, 201 do not. */
    char *s = repeat("(", 200, "x", ")");
    parse_ok(s, NULL, &e);
    assert_int_equal(e.n, 1);
    gd_expr_free(&e);
    free(s);
    s = repeat("(", 201, "x", ")");
    want_limit(s, strlen(s), NULL, 200, "the expression is nested deeper than 200 levels");
    free(s);

    s = repeat("-", 200, "x", "");
    parse_ok(s, NULL, &e);
    assert_int_equal(e.n, 201);
    gd_expr_free(&e);
    free(s);
    s = repeat("-", 201, "x", "");
    want_limit(s, strlen(s), NULL, 200, "nested deeper than 200 levels");
    free(s);
    s = repeat("+", 201, "x", "");
    want_limit(s, strlen(s), NULL, 200, "nested deeper than 200 levels");
    free(s);

    s = repeat("x^", 200, "x", "");
    parse_ok(s, NULL, &e);
    gd_expr_free(&e);
    free(s);
    s = repeat("x^", 201, "x", "");
    want_limit(s, strlen(s), NULL, 401, "nested deeper than 200 levels"); /* the 201st '^' */
    free(s);

    s = repeat("sin(", 201, "x", ")");
    want_limit(s, strlen(s), NULL, 800, "nested deeper than 200 levels"); /* the 201st sin */
    free(s);

    /* Mixed: each of "-(" is two levels. */
    s = repeat("-(", 100, "x", ")");
    parse_ok(s, NULL, &e);
    gd_expr_free(&e);
    free(s);
    s = repeat("-(", 101, "x", ")");
    want_limit(s, strlen(s), NULL, 200, "nested deeper than 200 levels");
    free(s);

    /* 100,000 deep, with the default depth and with a caller's depth that
     * is far too generous: a clean limit error either way, never a stack
     * overflow. */
    int depths[] = {200, INT_MAX};
    for (int d = 0; d < 2; d++) {
        lim.max_depth = depths[d];
        int cap = depths[d] < 1000 ? depths[d] : 1000;
        char want[64];
        snprintf(want, sizeof want, "nested deeper than %d levels", cap);
        s = repeat("(", 100000, "x", ")");
        want_limit(s, strlen(s), &lim, (size_t)cap, want);
        free(s);
        s = repeat("-", 100000, "x", "");
        want_limit(s, strlen(s), &lim, (size_t)cap, want);
        free(s);
        s = repeat("x^", 100000, "x", "");
        want_limit(s, strlen(s), &lim, 2 * (size_t)cap + 1, want);
        free(s);
        s = repeat("exp(", 100000, "x", ")");
        want_limit(s, strlen(s), &lim, 4 * (size_t)cap, want);
        free(s);
        s = repeat("sum(x, axis=1) + (", 100000, "x", ")");
        want_limit(s, strlen(s), &lim, 18 * (size_t)cap, want);
        free(s);
        s = repeat("2^-", 100000, "x", "");
        want_limit(s, strlen(s), &lim, 3 * ((size_t)cap / 2) + 1, want); /* two levels a unit */
        free(s);
    }
    /* The same inputs fail on max_len with the default limits. */
    s = repeat("(", 100000, "x", ")");
    want_limit(s, strlen(s), NULL, 65536, "over the limit of 65536");
    free(s);

    /* The ceiling allows 1000 levels even above the default. */
    lim.max_depth = 5000;
    s = repeat("(", 1000, "x", ")");
    parse_ok(s, &lim, &e);
    gd_expr_free(&e);
    free(s);
    s = repeat("-", 1000, "x", "");
    parse_ok(s, &lim, &e);
    gd_expr_free(&e);
    free(s);
    lim.max_depth = 0;
    parse_ok("a*b+c-d/e@f", &lim, &e); /* operators of + and * levels loop */
    gd_expr_free(&e);
    want_limit("(a)", 3, &lim, 0, "nested deeper than 0 levels");
}

/* Errors after many nodes were built, deep inside calls and lists, free
 * everything (checked by the sanitizer build's leak detection). */
static void test_error_after_growth(void **state) {
    (void)state;
    char *s = repeat("x*", 3000, "sum(y, axes=[0, 1], axis=", "");
    size_t n = strlen(s);
    char *t = malloc(n + 8);
    assert_non_null(t);
    memcpy(t, s, n);
    memcpy(t + n, "1.5)", 5);
    gd_expr e;
    gd_expr_error err;
    assert_int_equal(gd_expr_parse(t, strlen(t), NULL, &e, &err), -1);
    assert_non_null(strstr(err.message, "attribute 'axis' of sum takes an integer, found '1.5'"));
    assert_int_equal(err.pos, n);
    assert_null(e.nodes);
    free(t);
    free(s);
    gd_expr_free(&e);
    gd_expr_free(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trees),
        cmocka_unit_test(test_positions_and_names),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_messages_are_ascii),
        cmocka_unit_test(test_error_lines),
        cmocka_unit_test(test_limit_len_and_nodes),
        cmocka_unit_test(test_limit_depth),
        cmocka_unit_test(test_error_after_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

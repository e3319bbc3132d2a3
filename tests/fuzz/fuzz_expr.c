/* fuzz_expr.c -- libFuzzer harness for the expression parser alone
 * (gd_expr_parse). The input is the source text, parsed under small
 * limits (4 KiB, 2,000 nodes, depth 200). Seeds: any text works; the
 * golden requests (JSON around their expressions) reach the parser's
 * error paths first.
 *
 * Invariants (any failure aborts):
 *   - the result is 0 or -1;
 *   - on success: n >= 1, n <= max_nodes, root == n - 1; every node's
 *     position is inside the source; a name lies inside the source, is
 *     [A-Za-z_][A-Za-z0-9_]* and is not empty; an op node has its op's
 *     number of operands, each an earlier node; numbers are finite;
 *   - on failure: the expression is left empty, the message is non-empty,
 *     NUL-terminated, ASCII (it goes into a JSON response, where a cut
 *     multi-byte character would be invalid UTF-8; control characters are
 *     escaped there) and names a column; the position is at most the
 *     length; limit is 0 or 1, and 1 when the source is over max_len.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *src, size_t len) {
    fprintf(stderr, "fuzz_expr: %s\nsource (%zu bytes): %.*s\n", what, len, (int)(len > 2000 ? 2000 : len), src);
    abort();
}

static int name_char(char c, int first) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || (!first && c >= '0' && c <= '9');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    gd_expr_limits lim = {.max_len = 4096, .max_nodes = 2000, .max_depth = 200};
    /* an exact-size copy: the source is not terminated */
    char *src = malloc(size);
    if (!src && size) return 0;
    if (size) memcpy(src, data, size);
    gd_expr e;
    gd_expr_error err;
    memset(&e, 0x5a, sizeof e);
    int rc = gd_expr_parse(src, size, &lim, &e, &err);
    if (rc == 0) {
        if (e.n < 1 || e.n > lim.max_nodes || e.root != e.n - 1 || !e.nodes) die("bad node count or root", src, size);
        for (int k = 0; k < e.n; k++) {
            const gd_ex_node *x = &e.nodes[k];
            if (x->pos >= size) die("a node position outside the source", src, size);
            switch (x->kind) {
            case GD_EX_NUM:
                /* only the literals inf and nan are not finite */
                if (!isfinite(x->value) && (size - x->pos < 3 || (memcmp(src + x->pos, "inf", 3) &&
                                                                   memcmp(src + x->pos, "nan", 3))))
                    die("a non-finite number", src, size);
                break;
            case GD_EX_NAME:
                if (!x->name || x->name < src || x->name_len == 0 || x->name + x->name_len > src + size)
                    die("a name outside the source", src, size);
                if (x->name > src && x->name[-1] == '`') { /* a quoted name: any byte but ` and newline */
                    if (x->name + x->name_len >= src + size || x->name[x->name_len] != '`')
                        die("a quoted name without its closing quote", src, size);
                    for (size_t i = 0; i < x->name_len; i++)
                        if (x->name[i] == '`' || x->name[i] == '\n') die("a quoted name with a quote or newline", src, size);
                    break;
                }
                for (size_t i = 0; i < x->name_len; i++)
                    if (!name_char(x->name[i], i == 0)) die("a name with a bad character", src, size);
                break;
            case GD_EX_OP:
                if (!x->op || x->nargs < 0 ||
                    (gr_op_arity(x->op) == GR_VARIADIC ? x->nargs < gr_op_min_operands(x->op) || x->nargs > GR_MAX_VARIADIC
                                                       : x->nargs != gr_op_arity(x->op)) ||
                    (x->nargs > GR_MAX_OPERANDS) != (x->args_all != NULL))
                    die("an op node with the wrong number of operands", src, size);
                for (int j = 0; j < x->nargs; j++)
                    if (gd_ex_args(x)[j] < 0 || gd_ex_args(x)[j] >= k)
                        die("an operand that is not an earlier node", src, size);
                if (x->attrs && (!x->attrs->set || (x->attrs->set & ~gr_op_attrs(x->op)))) die("an attribute the op does not take", src, size);
                break;
            default: die("a node of no kind", src, size);
            }
        }
        gd_expr_free(&e);
        if (e.nodes || e.n) die("gd_expr_free left nodes", src, size);
    } else if (rc == -1) {
        if (e.nodes || e.n) die("a failed parse left nodes", src, size);
        const char *m = err.message;
        size_t n = strnlen(m, sizeof err.message);
        if (n == 0 || n == sizeof err.message) die("an empty or unterminated message", src, size);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)m[i] > 0x7f) die("a message that is not ASCII", src, size);
        if (!strstr(m, "column")) die("a message that names no column", src, size);
        if (err.pos > size) die("an error position past the end", src, size);
        if (err.limit != 0 && err.limit != 1) die("limit is not 0 or 1", src, size);
        if (size > lim.max_len && !err.limit) die("an over-long source that is not a limit error", src, size);
    } else {
        die("a result that is neither 0 nor -1", src, size);
    }
    free(src);
    return 0;
}

/* compare.c -- comparisons and logical connectives with NumPy broadcasting
 * whose outputs are 0 or 1 in the graph's dtype (PyTorch's bool tensors as
 * numbers). They are piecewise constant, so neither operand gets a
 * gradient (nondiff on both); greater, less and equal live in binary.c. */
#include "ops.h"

/* Comparisons with NaN are false except "not equal", as in IEEE, NumPy
 * and PyTorch. A value is true when it is not 0 (NaN is true: PyTorch's
 * bool(nan) is True). */
BINARY_KERNEL(greater_equal, x >= y ? 1 : 0)
BINARY_KERNEL(less_equal, x <= y ? 1 : 0)
BINARY_KERNEL(not_equal, x != y ? 1 : 0)
BINARY_KERNEL(logical_and, (x != 0 && y != 0) ? 1 : 0)
BINARY_KERNEL(logical_or, (x != 0 || y != 0) ? 1 : 0)

#define PREDICATE_OP(NAME, DOC)                                                                                       \
    const gr_op gr_op_##NAME = {                                                                                      \
        .name = #NAME, .arity = 2, .nondiff = 3, .flags = GR_OPF_PREDICATE, .doc = DOC, .infer = gr_infer_broadcast,  \
        .forward = NAME##_forward,                                                                                    \
    };

PREDICATE_OP(greater_equal, "y = 1 where a >= b else 0 (0 when either is NaN); no gradient")
PREDICATE_OP(less_equal, "y = 1 where a <= b else 0 (0 when either is NaN); no gradient")
PREDICATE_OP(not_equal, "y = 1 where a != b else 0 (1 when either is NaN); no gradient")
PREDICATE_OP(logical_and, "y = 1 where a != 0 and b != 0 else 0 (NaN counts as true, as torch); no gradient")
PREDICATE_OP(logical_or, "y = 1 where a != 0 or b != 0 else 0 (NaN counts as true, as torch); no gradient")

const gr_op *const gr_ops_compare[] = {&gr_op_greater_equal, &gr_op_less_equal, &gr_op_not_equal,
                                       &gr_op_logical_and,   &gr_op_logical_or,  NULL};

/* blas_core.c -- which of OpenBLAS's kernel sets this process runs, for
 * the daemon's start-up line and the benchmarks' headers: Debian's
 * OpenBLAS is built for every x86-64 CPU and picks its set when it loads,
 * from the CPU's family and model or from OPENBLAS_CORETYPE. A CPU newer
 * than the library gets an older set (an AVX-512 CPU may run the 256-bit
 * "Haswell" kernels), so a figure means little without the set's name. */
#include "internal.h"

char *openblas_get_corename(void);

const char *gr_blas_core(void) { return openblas_get_corename(); }

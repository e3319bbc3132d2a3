/* suggest.c -- the nearest name to a misspelled one, for error messages
 * that say how to fix them ("unknown op 'rleu'; did you mean 'relu'?"). */
#include "suggest.h"

#include "grad.h"

#include <string.h>

#define WORD_MAX 64 /* longer words get no suggestion */

int gd_edit_distance(const char *a, size_t na, const char *b, size_t nb, int max) {
    if (na >= WORD_MAX || nb >= WORD_MAX) return max + 1;
    if ((na > nb ? na - nb : nb - na) > (size_t)max) return max + 1;
    int d[WORD_MAX + 1][WORD_MAX + 1]; /* d[i][j]: edits from a[0..i) to b[0..j) */
    for (size_t i = 0; i <= na; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= nb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int row_min = max + 1;
        for (size_t j = 1; j <= nb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int v = d[i - 1][j - 1] + cost;
            if (d[i - 1][j] + 1 < v) v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1; /* two neighbours swapped */
            d[i][j] = v;
            if (v < row_min) row_min = v;
        }
        if (row_min > max) return max + 1;
    }
    return d[na][nb];
}

const char *gd_op_name_at(void *ctx, int i) {
    (void)ctx;
    const gr_op *op = gr_op_at(i);
    return op ? gr_op_name(op) : NULL;
}

const char *gd_nearest(const char *word, size_t n, const char *(*next)(void *ctx, int i), void *ctx) {
    int max = (int)(n / 3);
    if (max < 1) max = 1;
    if (max > 3) max = 3;
    const char *best = NULL;
    int best_d = max + 1;
    for (int i = 0;; i++) {
        const char *c = next(ctx, i);
        if (!c) break;
        size_t nc = strlen(c);
        int dist = gd_edit_distance(word, n, c, nc, max);
        if (dist == 0) return NULL; /* not misspelled */
        if (dist < best_d) {
            best_d = dist;
            best = c;
        }
    }
    return best;
}

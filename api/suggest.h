/* suggest.h -- "did you mean": the candidate nearest a misspelled word. */
#ifndef GRADD_SUGGEST_H
#define GRADD_SUGGEST_H

#include <stddef.h>

/* Edits (insertions, deletions, substitutions, swaps of two neighbours)
 * from a[0..na) to b[0..nb), or a value > max as soon as it must exceed
 * max. */
int gd_edit_distance(const char *a, size_t na, const char *b, size_t nb, int max);

/* Call next(ctx, i) for i = 0, 1, ... until it returns NULL; the candidate
 * nearest word[0..n) within a third of its length (at least 1, at most 3
 * edits), ties to the first; NULL when none is that near, or when word is
 * itself a candidate. */
const char *gd_nearest(const char *word, size_t n, const char *(*next)(void *ctx, int i), void *ctx);

/* The name of op i of libgrad's table, NULL past its end: the candidates
 * for an unknown op (ctx unused). */
const char *gd_op_name_at(void *ctx, int i);

#endif

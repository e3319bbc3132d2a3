/* json_nums.h -- the reader's scanner for a run of numbers: the innermost
 * level of a numeric array (api/codec/json.c's packed path), from its first
 * number to its ']'. A structural index of the text, 64 bytes at a time
 * (AVX2 when the CPU has it, else scalar), finds every number's span
 * first, so that parsing one number never waits on the previous one.
 * Private to api/codec/json.c (and its tests). */
#ifndef CD_JSON_NUMS_H
#define CD_JSON_NUMS_H

#include <stddef.h>

/* Read the run of numbers at s (s < end, *s is '-' or a digit): numbers
 * separated by ',' with optional JSON whitespace around them, up to the
 * first ']'. Exactly the runs the number-at-a-time loop in json.c accepts
 * are accepted, with the same doubles (each number is read by
 * cd_num_span8_parts, which is correctly rounded, or else by
 * cd_num_parse_short / cd_num_parse from its first character with end as
 * the limit, as the loop does, and must end where its token ends). Returns 1 with the values appended at (*nums)[*n..]
 * (*nums grown as with realloc, *cap its capacity in doubles), *n
 * advanced and *close at the ']'; 0 when the text is not such a run
 * (partial values may have been appended past the old *n: ignore them);
 * -1 when out of memory. Never reads at or beyond end. */
int cd_json_nums_run(const char *s, const char *end, double **nums, size_t *cap, size_t *n, const char **close);

/* Which scanner cd_json_nums_run uses. A test hook, not thread-safe:
 * set it before parsing, in one thread. */
enum {
    CD_JSON_NUMS_AUTO = 0,   /* the AVX2 index when the CPU has it, else json.c's
                                loop (the scalar index is slower than that loop) */
    CD_JSON_NUMS_SCALAR = 1, /* the scalar index */
    CD_JSON_NUMS_OFF = 2,    /* no index: json.c's number-at-a-time loop */
};
void cd_json_nums_set_mode(int mode);
int cd_json_nums_mode(void);

/* 1 when the AVX2 scanner is available on this CPU. */
int cd_json_nums_have_avx2(void);
/* 1 when json.c should index runs of numbers (cd_json_nums_run) rather
 * than read them one at a time: the mode is SCALAR, or AUTO with AVX2. */
int cd_json_nums_indexed(void);

#endif

/* error.h -- the codec's error: what went wrong (a stable kind), where in
 * the text (byte offset, line, column) and in the document (a JSON
 * pointer), and a sentence. No HTTP here: a caller maps kinds to its own
 * statuses and wording. */
#ifndef CD_ERROR_H
#define CD_ERROR_H

#include <stddef.h>

#define CD_PATH_MAX 2048 /* bytes of a JSON pointer, NUL included */
#define CD_KEY_MAX 1024  /* bytes of one object key */

/* Stable: callers switch on these; new kinds are added at the end. */
typedef enum cd_err_kind {
    CD_OK = 0,
    CD_E_SYNTAX,           /* not RFC 8259 JSON (bad token, invalid UTF-8, number out of range, ...) */
    CD_E_DUPLICATE_KEY,    /* a key twice in one object: path ends in it, key holds it */
    CD_E_UNKNOWN_ROOT_KEY, /* a root key not in cd_json_opts.root_keys: key holds it */
    CD_E_KEY_LENGTH,       /* a key longer than CD_KEY_MAX bytes */
    CD_E_DEPTH,            /* nesting deeper than cd_json_opts.max_depth */
    CD_E_BUDGET,           /* the tree would take more than cd_json_opts.max_bytes */
    CD_E_NOMEM,            /* an allocation failed */
    CD_E_CANCELLED,        /* cd_json_opts.cancel became non-zero */
} cd_err_kind;

typedef struct cd_err {
    cd_err_kind kind;          /* CD_OK while there is no error */
    size_t offset;             /* bytes of text before the place of the error */
    long line, column;         /* 1-based, of offset (a column counts bytes) */
    char path[CD_PATH_MAX];    /* JSON pointer of the container being read ("" at the root);
                                  for CD_E_DUPLICATE_KEY, of the repeated member */
    char key[CD_KEY_MAX + 1];  /* the key in question (DUPLICATE_KEY, UNKNOWN_ROOT_KEY), else "" */
    char message[256];         /* a sentence; for CD_E_SYNTAX "<what> at line L, column C" */
} cd_err;

/* A short stable name of kind ("syntax", "duplicate_key", ...). */
const char *cd_err_kind_name(cd_err_kind kind);

/* The 1-based line and byte column of offset in text[0..len) (offset is
 * clamped to len). */
void cd_locate(const char *text, size_t len, size_t offset, long *line, long *column);

/* Append a JSON pointer token (escaping ~ and /) to the NUL-terminated
 * pointer at path, in place, within cap bytes (silently cut). */
void cd_path_push(char *path, size_t cap, const char *token);
/* Append an array index as a token. */
void cd_path_index(char *path, size_t cap, long i);

#endif

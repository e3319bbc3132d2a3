/* err.h -- the API's error: HTTP status, stable code, JSON pointer path
 * and a sentence a person can act on. */
#ifndef GRADD_ERR_H
#define GRADD_ERR_H

#include <stddef.h>

#include "grad.h"

typedef struct gd_err {
    int status;           /* 0 while there is no error */
    const char *code;     /* stable machine-readable code */
    char path[2048];      /* JSON pointer, "" for the whole request */
    char message[640];
} gd_err;

/* Fill e (first error wins: a filled e is left alone) and return -1. */
int gd_fail(gd_err *e, int status, const char *code, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The HTTP status and code for a libgrad error. */
int gd_status_of(gr_status s);
const char *gd_code_of(gr_status s);

/* Append a JSON pointer token (escaping ~ and /) to path, in place. */
void gd_path_push(char *path, size_t cap, const char *token);
/* Append an array index. */
void gd_path_index(char *path, size_t cap, long i);

#endif

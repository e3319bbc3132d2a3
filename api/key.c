/* key.c -- the compiled-graph cache key of a request (gd_req_key).
 *
 * Two requests may share a program only when everything the program was
 * built from is the same. So the key is the whole request, in a canonical
 * encoding, less the top-level fields the route's spec (spec.c) marks as
 * not shaping the program (run-time values, and how the answer is
 * written), plus each declared leaf's name, kind and decoded shape. A
 * field's row says once whether it is in the key; tests/unit/
 * test_cache_key.c changes every program-shaping field of every route and
 * checks the key changes.
 *
 * Every value is encoded with its type and length, so no two different
 * trees encode alike, and numbers go in as their exact bits. Values the
 * JSON reader keeps outside the tree are encoded from where they are: a
 * packed numeric array by its shape and doubles, a "b64" string by its
 * text, and a Triton binary tensor by the bytes it owns in the binary
 * section. Constants are part of "graph", so their values are in the key
 * whichever way they were sent. */
#include <string.h>

#include "request.h"

static void put_len(cd_buf *b, char tag, size_t n) {
    cd_buf_putc(b, tag);
    cd_buf_i64(b, (int64_t)n);
    cd_buf_putc(b, ':');
}

static void put_bytes(cd_buf *b, char tag, const void *p, size_t n) {
    put_len(b, tag, n);
    cd_buf_put(b, (const char *)p, n);
}

/* The binary section bytes object v owns (Triton's extension), if any. */
static void put_binary(cd_buf *b, const gd_doc *d, const json_t *v) {
    const json_t *p = json_object_get(v, "parameters");
    int i = p ? gd_doc_record(d, v) : -1; /* the scan only for objects that can be records */
    if (i < 0) return;
    json_int_t size = json_integer_value(json_object_get(p, "binary_data_size"));
    if (d->binary && d->binoff && size > 0) put_bytes(b, 'B', d->binary + d->binoff[i], (size_t)size);
}

static void put_value(cd_buf *b, const gd_doc *d, const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        put_len(b, 'o', json_object_size(v));
        const char *key;
        json_t *m;
        json_object_foreach((json_t *)v, key, m) {
            put_bytes(b, 'k', key, strlen(key));
            put_value(b, d, m);
        }
        put_binary(b, d, v);
        return;
    }
    case JSON_ARRAY: {
        const cd_packed *pk = gd_doc_packed(d, v);
        if (pk) {
            put_len(b, 'p', (size_t)pk->rank);
            for (int i = 0; i < pk->rank; i++) {
                cd_buf_i64(b, pk->dims[i]);
                cd_buf_putc(b, ',');
            }
            put_bytes(b, 'd', pk->data, (size_t)pk->n * sizeof *pk->data);
            return;
        }
        put_len(b, 'a', json_array_size(v));
        for (size_t i = 0; i < json_array_size(v); i++) put_value(b, d, json_array_get(v, i));
        return;
    }
    case JSON_STRING: {
        size_t n;
        const char *t = gd_doc_text(d, v, &n); /* a "b64" span's text, or the string */
        put_bytes(b, 's', t, n);
        return;
    }
    case JSON_INTEGER:
        cd_buf_putc(b, 'i');
        cd_buf_i64(b, (int64_t)json_integer_value(v));
        cd_buf_putc(b, ';');
        return;
    case JSON_REAL: {
        double x = json_real_value(v);
        put_bytes(b, 'r', &x, sizeof x);
        return;
    }
    case JSON_TRUE: cd_buf_putc(b, 't'); return;
    case JSON_FALSE: cd_buf_putc(b, 'f'); return;
    case JSON_NULL: cd_buf_putc(b, 'n'); return;
    }
}

int gd_req_key(gd_req *r) {
    cd_buf b = {0};
    put_bytes(&b, 'R', r->route, strlen(r->route));
    const char *key;
    json_t *v;
    json_object_foreach(r->doc.json.root, key, v) {
        const gd_field_spec *f = gd_route_field(r->spec, key);
        if (f && !f->shapes_program) continue; /* unknown fields were refused: f is there */
        put_bytes(&b, 'k', key, strlen(key));
        put_value(&b, &r->doc, v);
    }
    for (int i = 0; i < r->nleaves; i++) {
        const gd_leaf *l = &r->leaves[i];
        put_bytes(&b, 'L', l->name, strlen(l->name));
        cd_buf_i64(&b, (int64_t)l->kind);
        cd_buf_putc(&b, l->has_value ? 'v' : 'a'); /* an input forward runs without (lower.c) */
        put_len(&b, '[', (size_t)l->value.shape.rank);
        for (int k = 0; k < l->value.shape.rank; k++) {
            cd_buf_i64(&b, l->value.shape.dims[k]);
            cd_buf_putc(&b, ',');
        }
    }
    r->key = cd_buf_take(&b, &r->key_len);
    return r->key ? 0 : -1;
}

/* tensor.c -- see tensor.h. */
#include "tensor.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/b64.h"
#include "codec/num.h"

static int bad(gd_err *e, const char *path, const char *what) {
    return gd_fail(e, GD_E_BAD_TENSOR, path, "%s", what);
}

/* A number of a tensor: JSON number or a non-finite string. */
static int scalar_of(const json_t *v, double *out) {
    if (json_is_integer(v)) *out = (double)json_integer_value(v);
    else if (json_is_real(v)) *out = json_real_value(v);
    else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "NaN")) *out = NAN;
        else if (!strcmp(s, "Infinity")) *out = INFINITY;
        else if (!strcmp(s, "-Infinity")) *out = -INFINITY;
        else return 0;
    } else return 0;
    return 1;
}

/* Check shape against the limits (413) without charging anything. */
static int check_limits(const gr_shape *s, gr_dtype dt, const gd_limits *lim, const int64_t *budget, const char *path,
                        gd_err *e) {
    char buf[160];
    gr_error ge;
    int64_t n;
    if (s->rank > lim->max_rank)
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, path, "the tensor has rank %d, over the limit of %d", s->rank,
                       lim->max_rank);
    if (gr_shape_numel(s, lim->max_elements, &n, &ge) != GR_OK)
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, path, "the tensor of shape %s is over the limit of %lld elements",
                       gr_shape_str(s, buf, sizeof buf), (long long)lim->max_elements);
    if (n * (int64_t)gr_dtype_size(dt) > *budget)
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, path, "the request's tensors exceed the limit of %lld bytes",
                       (long long)lim->max_total_bytes);
    return 0;
}

/* Check shape against the limits and charge its bytes; sets t's shape and
 * n (no data yet). */
static int charge_tensor(const gr_shape *s, gr_dtype dt, const gd_limits *lim, int64_t *budget, const char *path,
                         gd_tensor *t, gd_err *e) {
    if (check_limits(s, dt, lim, budget, path, e) < 0) return -1;
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i]; /* checked: no overflow */
    *budget -= n * (int64_t)gr_dtype_size(dt);
    t->shape = *s;
    t->n = n;
    return 0;
}

/* Data of t's own for its t->n elements. */
static int own_data(gd_tensor *t, gr_dtype dt, const char *path, gd_err *e) {
    t->data = malloc((size_t)t->n * gr_dtype_size(dt) + 1);
    if (!t->data) return gd_fail(e, GD_E_LIMIT_EXCEEDED, path, "out of memory for a tensor");
    return 0;
}

/* charge_tensor, then t's own data. */
static int alloc_tensor(const gr_shape *s, gr_dtype dt, const gd_limits *lim, int64_t *budget, const char *path,
                        gd_tensor *t, gd_err *e) {
    if (charge_tensor(s, dt, lim, budget, path, t, e) < 0) return -1;
    return own_data(t, dt, path, e);
}

/* Fill t (shape set, charged, no data yet) from packed numbers pk (pk->n
 * == t->n): float64 shares them (a reference to their block), float32
 * converts them into data of its own. */
static int take_packed(const cd_packed *pk, gr_dtype dt, const char *path, gd_tensor *t, gd_err *e) {
    if (dt == GR_F64) {
        t->shared = cd_numbers_retain(pk->block);
        t->data = pk->data;
        return 0;
    }
    if (own_data(t, dt, path, e) < 0) return -1;
    for (int64_t i = 0; i < pk->n; i++) ((float *)t->data)[i] = (float)pk->data[i];
    return 0;
}

static void store(gr_dtype dt, void *data, int64_t i, double v) {
    if (dt == GR_F32) ((float *)data)[i] = (float)v;
    else ((double *)data)[i] = v;
}

/* Fill t from a generic (unpacked) nest of arrays, checking it is
 * rectangular with t's shape. Depth is at most the rank (<= 8). */
static int fill_nested(const gd_doc *doc, const json_t *v, gr_dtype dt, const gd_tensor *t, int level, int64_t *at,
                       char *path, size_t cap, gd_err *e) {
    size_t plen = strlen(path);
    if (level == t->shape.rank) {
        double x;
        if (!scalar_of(v, &x)) return bad(e, path, "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
        store(dt, t->data, (*at)++, x);
        return 0;
    }
    const cd_packed *pk = json_is_array(v) ? gd_doc_packed(doc, v) : NULL;
    if (pk) { /* a packed sub-array inside a generic one */
        int64_t want = 1;
        int ok = pk->rank == t->shape.rank - level;
        for (int i = 0; ok && i < pk->rank; i++) {
            ok = pk->dims[i] == t->shape.dims[level + i];
            want *= pk->dims[i];
        }
        if (!ok) return bad(e, path, "the nested arrays are not rectangular");
        for (int64_t i = 0; i < want; i++) store(dt, t->data, (*at)++, pk->data[i]);
        return 0;
    }
    if (!json_is_array(v) || (int64_t)json_array_size(v) != t->shape.dims[level])
        return bad(e, path, "the nested arrays are not rectangular");
    for (size_t i = 0; i < json_array_size(v); i++) {
        gd_path_index(path, cap, (long)i);
        if (fill_nested(doc, json_array_get(v, i), dt, t, level + 1, at, path, cap, e) < 0) return -1;
        path[plen] = '\0';
    }
    return 0;
}

/* Shape of a generic nest from its first elements. */
static int nested_shape(const gd_doc *doc, const json_t *v, const gd_limits *lim, gr_shape *s, const char *path,
                        gd_err *e) {
    memset(s, 0, sizeof *s);
    for (;;) {
        const cd_packed *pk = json_is_array(v) ? gd_doc_packed(doc, v) : NULL;
        if (pk) {
            if (s->rank + pk->rank > GR_MAX_RANK || s->rank + pk->rank > lim->max_rank) break;
            for (int i = 0; i < pk->rank; i++) s->dims[s->rank++] = pk->dims[i];
            return 0;
        }
        if (!json_is_array(v)) return 0;
        if (s->rank >= GR_MAX_RANK || s->rank >= lim->max_rank) break;
        s->dims[s->rank++] = (int64_t)json_array_size(v);
        if (json_array_size(v) == 0) return 0;
        v = json_array_get(v, 0);
    }
    return gd_fail(e, GD_E_LIMIT_EXCEEDED, path, "the nested arrays are deeper than the rank limit of %d",
                   lim->max_rank < GR_MAX_RANK ? lim->max_rank : GR_MAX_RANK);
}

int gd_read_dims(const gd_doc *doc, const json_t *v, int max, int allow_neg1, int64_t *dims, const char *path,
                 gd_err *e) {
    char p[512];
    if (!json_is_array(v)) return gd_fail(e, GD_E_INVALID_REQUEST, path, "expected a list of integers");
    if (gd_doc_packed(doc, v) || (int)json_array_size(v) > max)
        return gd_fail(e, GD_E_LIMIT_EXCEEDED, path, "the list has more than %d entries", max);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *d = json_array_get(v, i);
        cd_join(p, sizeof p, path, "");
        gd_path_index(p, sizeof p, (long)i);
        if (!json_is_integer(d)) return gd_fail(e, GD_E_INVALID_REQUEST, p, "expected an integer");
        json_int_t x = json_integer_value(d);
        if (x < (allow_neg1 ? -1 : 0))
            return gd_fail(e, GD_E_INVALID_REQUEST, p, "%lld is not allowed here%s", (long long)x,
                           allow_neg1 ? " (only -1 may stand for a batch dimension)" : "");
        dims[i] = x;
    }
    return (int)json_array_size(v);
}

/* The float width in bytes (4 or 8) of a tensor of numel values sent as
 * `bytes` raw bytes (binary or b64), else 0: the graph's dtype's, or the
 * one Triton's "datatype" names (wire_dt, -1 when absent: a float64 array
 * sent to a float32 model is converted here). Without "datatype" the
 * width is never guessed from the byte count: 8 bytes for a shape of [2]
 * in a float64 graph is an error, not two float32 values. */
static int wire_width(size_t bytes, int64_t numel, gr_dtype dt, int wire_dt) {
    int w = (int)gr_dtype_size(wire_dt >= 0 ? (gr_dtype)wire_dt : dt);
    return bytes == (size_t)numel * (size_t)w ? w : 0;
}

/* Bytes numel values take on the wire, and the name of their type. */
static size_t wire_bytes(int64_t numel, gr_dtype dt, int wire_dt) {
    return (size_t)numel * gr_dtype_size(wire_dt >= 0 ? (gr_dtype)wire_dt : dt);
}
static const char *wire_name(gr_dtype dt, int wire_dt) { return gr_dtype_name(wire_dt >= 0 ? (gr_dtype)wire_dt : dt); }

/* The error message's hint at the other width. */
static const char *other_width(gr_dtype dt, int wire_dt) {
    if (wire_dt >= 0) return "";
    return dt == GR_F32 ? "; float64 values need \"datatype\": \"FP64\"" : "; float32 values need \"datatype\": \"FP32\"";
}

/* t's values from raw little-endian floats of width bytes each. */
static void put_wire(gd_tensor *t, gr_dtype dt, const void *raw, int width) {
    if (width == (int)gr_dtype_size(dt)) {
        memcpy(t->data, raw, (size_t)t->n * (size_t)width);
    } else if (width == 8) { /* float64 in, float32 kept: rounded to nearest, as numpy's astype */
        const double *src = raw;
        float *dst = t->data;
        for (int64_t i = 0; i < t->n; i++) {
            double x;
            memcpy(&x, src + i, sizeof x);
            dst[i] = (float)x;
        }
    } else {
        const float *src = raw;
        double *dst = t->data;
        for (int64_t i = 0; i < t->n; i++) {
            float x;
            memcpy(&x, src + i, sizeof x);
            dst[i] = x;
        }
    }
}

/* Decode the b64 text of n values of `width` bytes each into t (dtype dt,
 * the other width) a piece at a time, converting each: no buffer beyond a
 * small one on the stack. 1, or 0 when the text is not valid base64. */
static int b64_convert(const char *text, size_t len, gd_tensor *t, gr_dtype dt, int width) {
    enum { PIECE = 6144 };            /* bytes: a multiple of 3 (whole base64 quads) and of 8 */
    unsigned char raw[PIECE];
    size_t at = 0;                    /* text characters consumed */
    int64_t done = 0;                 /* values written */
    while (at < len) {
        size_t chars = len - at > PIECE / 3 * 4 ? PIECE / 3 * 4 : len - at, got = 0;
        if (cd_b64_decode(text + at, chars, raw, sizeof raw, &got) < 0 || got % (size_t)width) return 0;
        gd_tensor part = *t;
        part.n = (int64_t)got / width;
        part.data = (char *)t->data + (size_t)done * gr_dtype_size(dt);
        if (done + part.n > t->n) return 0;
        put_wire(&part, dt, raw, width);
        done += part.n;
        at += chars;
    }
    return done == t->n;
}

/* Triton's "datatype" of a tensor object: GR_F32 for "FP32", GR_F64 for
 * "FP64", -1 when absent; -2 (e set) for anything else. */
static int wire_dtype(const json_t *v, const char *path, gd_err *e) {
    const json_t *d = json_object_get(v, "datatype");
    if (!d) return -1;
    const char *s = json_string_value(d);
    if (s && !strcmp(s, "FP32")) return GR_F32;
    if (s && !strcmp(s, "FP64")) return GR_F64;
    char p[512];
    cd_join(p, sizeof p, path, "/datatype");
    gd_fail(e, GD_E_BAD_TENSOR, p, "datatype must be \"FP32\" or \"FP64\" (Triton's names; it may be left out)");
    return -2;
}

static int decode_object(const gd_doc *doc, const json_t *v, gr_dtype dt, const gd_limits *lim, int64_t *budget,
                         const char *path, gd_tensor *t, gd_err *e) {
    char p[512];
    const json_t *shape = json_object_get(v, "shape"), *data = json_object_get(v, "data"),
                 *b64 = json_object_get(v, "b64");
    const json_t *params = json_object_get(v, "parameters");
    static const char *const tensor_fields[] = {"shape", "data", "b64", "parameters", "datatype", NULL};
    if (gd_only_fields(v, tensor_fields, path, "a tensor", e) < 0) return -1;
    int wire_dt = wire_dtype(v, path, e);
    if (wire_dt == -2) return -1;
    if (wire_dt >= 0 && !params && !b64) {
        char dp[512];
        cd_join(dp, sizeof dp, path, "/datatype");
        return gd_fail(e, GD_E_INVALID_REQUEST, dp, "datatype describes raw bytes: binary or b64 tensors only");
    }
    cd_join(p, sizeof p, path, "/shape");
    if (!shape) return gd_fail(e, GD_E_MISSING_FIELD, p, "a tensor object needs \"shape\"");
    if (!data + !b64 + !params != 2)
        return gd_fail(e, GD_E_INVALID_REQUEST, path,
                       "a tensor object needs exactly one of \"data\", \"b64\" and \"parameters\" (binary data)");
    gr_shape s;
    memset(&s, 0, sizeof s);
    int rank = gd_read_dims(doc, shape, lim->max_rank < GR_MAX_RANK ? lim->max_rank : GR_MAX_RANK, 0, s.dims, p, e);
    if (rank < 0) return -1;
    s.rank = rank;
    /* Limits, then the data's length against the shape, then allocation. */
    int64_t numel;
    gr_error ge;
    if (check_limits(&s, dt, lim, budget, path, e) < 0) return -1;
    if (gr_shape_numel(&s, lim->max_elements, &numel, &ge) == GR_OK) {
        size_t tlen = 0;
        const char *text = b64 ? gd_doc_text(doc, b64, &tlen) : NULL;
        if (text && !wire_width(cd_b64_decoded_len(text, tlen), numel, dt, wire_dt)) {
            snprintf(p, sizeof p, "%s/b64", path);
            return gd_fail(e, GD_E_BAD_TENSOR, p,
                           "b64 must hold exactly %zu bytes (%lld little-endian %s values) in standard base64%s",
                           wire_bytes(numel, dt, wire_dt), (long long)numel, wire_name(dt, wire_dt),
                           other_width(dt, wire_dt));
        }
        const cd_packed *pd = json_is_array(data) ? gd_doc_packed(doc, data) : NULL;
        int64_t have = pd ? pd->n : json_is_array(data) ? (int64_t)json_array_size(data) : -1;
        if (data && (have != numel || (pd && pd->rank != 1))) {
            cd_join(p, sizeof p, path, "/data");
            return gd_fail(e, GD_E_BAD_TENSOR, p, "data must be a flat list of %lld numbers", (long long)numel);
        }
    }
    const cd_packed *pk = json_is_array(data) ? gd_doc_packed(doc, data) : NULL;
    if (pk) { /* numbers the reader parsed: checked against the shape above (numel fits: the limits passed) */
        if (charge_tensor(&s, dt, lim, budget, path, t, e) < 0) return -1;
        cd_join(p, sizeof p, path, "/data");
        if (pk->rank != 1 || pk->n != t->n)
            return gd_fail(e, GD_E_BAD_TENSOR, p, "data must be a flat list of %lld numbers", (long long)t->n);
        return take_packed(pk, dt, p, t, e);
    }
    if (params) { /* Triton's binary extension: bytes after the JSON */
        if (charge_tensor(&s, dt, lim, budget, path, t, e) < 0) return -1;
        cd_join(p, sizeof p, path, "/parameters/binary_data_size");
        int64_t off = -1;
        int rec = gd_doc_record(doc, v);
        if (rec >= 0 && doc->binoff) off = doc->binoff[rec];
        const json_t *size = json_object_get(params, "binary_data_size");
        int width = off >= 0 && json_is_integer(size) ? wire_width((size_t)json_integer_value(size), t->n, dt, wire_dt) : 0;
        if (!width)
            return gd_fail(e, GD_E_BAD_TENSOR, p, "binary_data_size must be %lld (%lld %s values) with the bytes sent "
                           "after the JSON header%s", (long long)wire_bytes(t->n, dt, wire_dt), (long long)t->n,
                           wire_name(dt, wire_dt), other_width(dt, wire_dt));
        char *lent = doc->binary_rw ? doc->binary_rw + off : NULL;
        if (lent && width == (int)gr_dtype_size(dt) && (uintptr_t)lent % (uintptr_t)width == 0) {
            t->data = lent; /* the bytes are the values: no copy (resnet18's params are 45 MB) */
            t->in_binary = 1;
            return 0;
        }
        if (own_data(t, dt, path, e) < 0) return -1;
        put_wire(t, dt, doc->binary + off, width);
        return 0;
    }
    if (alloc_tensor(&s, dt, lim, budget, path, t, e) < 0) return -1;
    if (b64) {
        snprintf(p, sizeof p, "%s/b64", path);
        size_t len = 0, got = 0, want = (size_t)t->n * gr_dtype_size(dt);
        const char *text = gd_doc_text(doc, b64, &len);
        if (!text) return gd_fail(e, GD_E_BAD_TENSOR, p, "b64 must be a string");
        size_t bytes = cd_b64_decoded_len(text, len);
        int width = wire_width(bytes, t->n, dt, wire_dt);
        if (width == (int)gr_dtype_size(dt)) { /* straight into the tensor */
            if (cd_b64_decode(text, len, t->data, want, &got) < 0 || got != want) width = 0;
        } else if (width && !b64_convert(text, len, t, dt, width)) {
            width = 0; /* the other float width: decoded a piece at a time, converted */
        }
        if (!width)
            return gd_fail(e, GD_E_BAD_TENSOR, p,
                           "b64 must hold exactly %zu bytes (%lld little-endian %s values) in standard base64%s",
                           wire_bytes(t->n, dt, wire_dt), (long long)t->n, wire_name(dt, wire_dt),
                           other_width(dt, wire_dt));
        return 0;
    }
    cd_join(p, sizeof p, path, "/data");
    if (!json_is_array(data) || (int64_t)json_array_size(data) != t->n)
        return gd_fail(e, GD_E_BAD_TENSOR, p, "data must be a flat list of %lld numbers", (long long)t->n);
    for (size_t i = 0; i < json_array_size(data); i++) {
        double x;
        if (!scalar_of(json_array_get(data, i), &x)) {
            gd_path_index(p, sizeof p, (long)i);
            return bad(e, p, "expected a number (or \"NaN\", \"Infinity\", \"-Infinity\")");
        }
        store(dt, t->data, (int64_t)i, x);
    }
    return 0;
}

static int decode_value(const gd_doc *doc, const json_t *v, gr_dtype dt, const gd_limits *lim, int64_t *budget,
                        const char *path, gd_tensor *t, gd_err *e);

int gd_tensor_decode(const gd_doc *doc, const json_t *v, gr_dtype dt, const gd_limits *lim, int64_t *budget,
                     const char *path, gd_tensor *t, gd_err *e) {
    memset(t, 0, sizeof *t);
    int rc = decode_value(doc, v, dt, lim, budget, path, t, e);
    if (rc < 0) gd_tensor_free(t); /* a failure leaves nothing to free */
    return rc;
}

static int decode_value(const gd_doc *doc, const json_t *v, gr_dtype dt, const gd_limits *lim, int64_t *budget,
                        const char *path, gd_tensor *t, gd_err *e) {
    if (json_is_object(v)) return decode_object(doc, v, dt, lim, budget, path, t, e);
    gr_shape s;
    const cd_packed *pk = json_is_array(v) ? gd_doc_packed(doc, v) : NULL;
    if (pk) { /* the fast path: already parsed */
        memset(&s, 0, sizeof s);
        if (pk->rank > lim->max_rank)
            return gd_fail(e, GD_E_LIMIT_EXCEEDED, path, "the tensor has rank %d, over the limit of %d", pk->rank,
                           lim->max_rank);
        s.rank = pk->rank;
        memcpy(s.dims, pk->dims, (size_t)pk->rank * sizeof *s.dims);
        if (charge_tensor(&s, dt, lim, budget, path, t, e) < 0) return -1;
        return take_packed(pk, dt, path, t, e);
    }
    if (!json_is_array(v) && !json_is_number(v) && !json_is_string(v))
        return bad(e, path, "expected a tensor: a number, nested lists, or {\"shape\", \"data\" | \"b64\"}");
    if (nested_shape(doc, v, lim, &s, path, e) < 0) return -1;
    if (alloc_tensor(&s, dt, lim, budget, path, t, e) < 0) return -1;
    char p[512];
    cd_join(p, sizeof p, path, "");
    int64_t at = 0;
    return fill_nested(doc, v, dt, t, 0, &at, p, sizeof p, e);
}

int gd_tensor_zeros(const gr_shape *s, gr_dtype dt, int64_t *budget, const char *path, gd_tensor *t, gd_err *e) {
    gd_limits lim = gd_limits_default();
    lim.max_elements = INT64_MAX;
    lim.max_rank = GR_MAX_RANK;
    memset(t, 0, sizeof *t);
    if (alloc_tensor(s, dt, &lim, budget, path, t, e) < 0) return -1;
    memset(t->data, 0, (size_t)t->n * gr_dtype_size(dt));
    return 0;
}

int gd_tensor_own(gd_tensor *t, gr_dtype dt) {
    if (!t->shared) return 0;
    size_t bytes = (size_t)t->n * gr_dtype_size(dt);
    void *own = malloc(bytes + 1);
    if (!own) return -1;
    memcpy(own, t->data, bytes);
    cd_numbers_release(t->shared);
    t->shared = NULL;
    t->data = own;
    return 0;
}

void gd_tensor_free(gd_tensor *t) {
    if (t->shared) cd_numbers_release(t->shared);
    else if (!t->in_binary) free(t->data);
    memset(t, 0, sizeof *t);
}

/* Room for n numbers with a separator or two brackets each: reserved once
 * per tensor, so the loops below write without a check per element (the
 * printers need CD_NUM_MAX bytes at each position). */
static char *reserve_numbers(cd_buf *b, int64_t n, int rank) {
    if (!cd_buf_reserve(b, (size_t)n * (CD_NUM_MAX + 2) + 4 * (size_t)rank + CD_NUM_MAX + 8)) return NULL;
    return b->p + b->len;
}

/* Element i as a JSON number, or a ProtoJSON string when not finite. */
static char *write_elem(char *o, gr_dtype dt, const void *data, int64_t i) {
    double v = dt == GR_F32 ? (double)((const float *)data)[i] : ((const double *)data)[i];
    if (!isfinite(v)) {
        const char *t = isnan(v) ? "\"NaN\"" : v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
        size_t n = strlen(t);
        memcpy(o, t, n);
        return o + n;
    }
    return o + (dt == GR_F32 ? cd_num_print_f32(((const float *)data)[i], o) : cd_num_print_f64(v, o));
}

/* Elements [i, i + n) as "a,b,c" at o (the list printers: four float32
 * at a time); returns the end. o needs CD_NUM_LIST_BYTES(n) bytes. */
static char *write_row(char *o, gr_dtype dt, const void *data, int64_t i, int64_t n) {
    if (dt == GR_F32) return o + cd_num_print_f32_list((const float *)data + i, (size_t)n, o);
    return o + cd_num_print_f64_list((const double *)data + i, (size_t)n, o);
}

static void put_elem(cd_buf *b, gr_dtype dt, const void *data, int64_t i) {
    char *o = reserve_numbers(b, 1, 0);
    if (o) b->len = (size_t)(write_elem(o, dt, data, i) - b->p);
}

static void put_flat(cd_buf *b, gr_dtype dt, int64_t n, const void *data) {
    char *o = reserve_numbers(b, n, 1);
    if (!o) return;
    *o++ = '[';
    o = write_row(o, dt, data, 0, n);
    *o++ = ']';
    b->len = (size_t)(o - b->p);
}

static void put_shape(cd_buf *b, const gr_shape *s) {
    cd_buf_putc(b, '[');
    for (int i = 0; i < s->rank; i++) {
        if (i) cd_buf_putc(b, ',');
        cd_buf_i64(b, s->dims[i]);
    }
    cd_buf_putc(b, ']');
}

size_t gd_tensor_binary_header(cd_buf *b, gr_dtype dt, const gr_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    size_t bytes = (size_t)n * gr_dtype_size(dt);
    cd_buf_puts(b, "{\"shape\":");
    put_shape(b, s);
    cd_buf_puts(b, ",\"parameters\":{\"binary_data_size\":");
    cd_buf_i64(b, (int64_t)bytes);
    cd_buf_puts(b, "}}");
    return bytes;
}

void gd_tensor_encode(cd_buf *b, gr_dtype dt, const gr_shape *s, const void *data, gd_encoding enc, cd_buf *bin) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->dims[i];
    if (enc == GD_ENC_BINARY) {
        cd_buf_put(bin, data, gd_tensor_binary_header(b, dt, s));
        return;
    }
    if (enc == GD_ENC_FLAT || enc == GD_ENC_B64) {
        cd_buf_puts(b, "{\"shape\":");
        put_shape(b, s);
        if (enc == GD_ENC_FLAT) {
            cd_buf_puts(b, ",\"data\":");
            put_flat(b, dt, n, data);
        } else {
            size_t bytes = (size_t)n * gr_dtype_size(dt);
            cd_buf_puts(b, ",\"b64\":\"");
            if (cd_buf_reserve(b, cd_b64_encoded_len(bytes))) b->len += cd_b64_encode(data, bytes, b->p + b->len);
            cd_buf_putc(b, '"');
        }
        cd_buf_putc(b, '}');
        return;
    }
    if (s->rank == 0) {
        put_elem(b, dt, data, 0);
        return;
    }
    if (n == 0) { /* [[],[]] for [2, 0]: the dims before the first 0, then [] */
        int z = 0;
        int64_t outer = 1;
        while (s->dims[z] != 0) outer *= s->dims[z++];
        if (outer > 4096) { /* no megabytes of brackets for nothing: the flat form */
            gd_tensor_encode(b, dt, s, data, GD_ENC_FLAT, bin);
            return;
        }
        gr_shape o = *s;
        o.rank = z;
        int64_t idx[GR_MAX_RANK] = {0};
        for (int i = 0; i < z; i++) cd_buf_putc(b, '[');
        for (int64_t i = 0; i < outer; i++) {
            cd_buf_puts(b, "[]");
            int d = z - 1, closed = 0;
            while (d >= 0 && ++idx[d] == o.dims[d]) {
                idx[d--] = 0;
                closed++;
            }
            for (int k = 0; k < closed; k++) cd_buf_putc(b, ']');
            if (d < 0) break;
            cd_buf_putc(b, ',');
            for (int k = 0; k < closed; k++) cd_buf_putc(b, '[');
        }
        return;
    }
    /* Nested: open all levels, then each innermost row as one list, then
     * close and reopen as the outer indices carry. A row has at least one
     * element, so brackets add at most 2 per element. */
    char *o = reserve_numbers(b, n * 2, s->rank);
    if (!o) return;
    int64_t idx[GR_MAX_RANK] = {0}, row = s->dims[s->rank - 1];
    for (int i = 0; i < s->rank; i++) *o++ = '[';
    for (int64_t i = 0; i < n; i += row) {
        o = write_row(o, dt, data, i, row);
        *o++ = ']';
        int d = s->rank - 2, closed = 1;
        while (d >= 0 && ++idx[d] == s->dims[d]) {
            idx[d--] = 0;
            closed++;
        }
        for (int k = 1; k < closed; k++) *o++ = ']';
        if (d < 0) break;
        *o++ = ',';
        for (int k = 0; k < closed; k++) *o++ = '[';
    }
    b->len = (size_t)(o - b->p);
}

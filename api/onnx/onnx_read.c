/* onnx_read.c -- bytes to a model view: protobuf-c's unpacking under a
 * byte cap (every allocation of the unpacked model is counted, so a
 * model that declares more than the request may hold fails before it is
 * allocated), and the readers of tensors and attributes the lowering
 * uses. No file is ever opened: external data is refused. */
#include "onnx_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- unpacking under a cap ------------------------------------------- */

/* Each block carries its size in front, so free can give it back. */
#define OX_HEAD 16

static void *capped_alloc(void *ctx, size_t size) {
    gd_onnx *m = ctx;
    if (size > (size_t)INT64_MAX / 2 || m->alloc_bytes + (int64_t)size + OX_HEAD > m->alloc_cap) return NULL;
    char *p = malloc(size + OX_HEAD);
    if (!p) return NULL;
    memcpy(p, &size, sizeof size);
    m->alloc_bytes += (int64_t)size + OX_HEAD;
    return p + OX_HEAD;
}

static void capped_free(void *ctx, void *ptr) {
    gd_onnx *m = ctx;
    if (!ptr) return;
    char *p = (char *)ptr - OX_HEAD;
    size_t size;
    memcpy(&size, p, sizeof size);
    m->alloc_bytes -= (int64_t)size + OX_HEAD;
    free(p);
}

static ProtobufCAllocator allocator_of(gd_onnx *m) {
    return (ProtobufCAllocator){.alloc = capped_alloc, .free = capped_free, .allocator_data = m};
}

int gd_ox_model_unpack(gd_onnx *m, const uint8_t *p, size_t n, int64_t cap, char *why, size_t why_cap) {
    m->alloc_cap = cap;
    ProtobufCAllocator a = allocator_of(m);
    m->model = onnx__model_proto__unpack(&a, n, p);
    if (!m->model) {
        snprintf(why, why_cap, m->alloc_bytes * 2 > cap || n > (size_t)cap / 4
                                   ? "the model does not fit in the request's memory budget, or is not an ONNX "
                                     "ModelProto"
                                   : "the bytes are not an ONNX ModelProto (malformed protobuf)");
        return -1;
    }
    return 0;
}

void gd_onnx_free(gd_onnx *m) {
    if (!m) return;
    if (m->parsed) {
        if (m->parsed_owned) gd_onnx_free(m->parsed);
    } else if (m->model) {
        ProtobufCAllocator a = allocator_of(m);
        onnx__model_proto__free_unpacked(m->model, &a);
    }
    free(m->roles);
    gd_ox_nameset_free(&m->inits);
    gd_ox_nameset_free(&m->bn_stats);
    gd_ox_nameset_free(&m->int_inputs);
    free(m->outputs);
    free(m->loss_expr);
    free(m);
}

/* ---- name sets ------------------------------------------------------- */

int gd_ox_nameset_add(ox_nameset *s, const char *name) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        const char **v = realloc(s->v, cap * sizeof *v);
        if (!v) return -1;
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = name;
    return 0;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

void gd_ox_nameset_sort(ox_nameset *s) {
    if (s->n > 1) qsort(s->v, s->n, sizeof *s->v, cmp_names);
}

int gd_ox_nameset_has(const ox_nameset *s, const char *name) {
    return s->n && bsearch(&name, s->v, s->n, sizeof *s->v, cmp_names) != NULL;
}

size_t gd_ox_nameset_count(const ox_nameset *s, const char *name) {
    const char **at = s->n ? bsearch(&name, s->v, s->n, sizeof *s->v, cmp_names) : NULL;
    if (!at) return 0;
    const char **lo = at, **hi = at + 1;
    while (lo > s->v && !strcmp(lo[-1], name)) lo--;
    while (hi < s->v + s->n && !strcmp(*hi, name)) hi++;
    return (size_t)(hi - lo);
}

void gd_ox_nameset_free(ox_nameset *s) {
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- tensors --------------------------------------------------------- */

int gd_ox_is_float_type(int32_t t) { return t == OX_FLOAT || t == OX_DOUBLE || t == OX_FLOAT16 || t == OX_BFLOAT16; }

static double half_to_double(uint16_t h) {
    int e = (h >> 10) & 31, f = h & 1023;
    double v = e == 0 ? ldexp(f, -24) : e == 31 ? (f ? NAN : INFINITY) : ldexp(f + 1024, e - 25);
    return h & 0x8000 ? -v : v;
}

static double bf16_to_double(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Bytes one element of type t takes in raw_data, 0 for types gradd does
 * not read. */
static size_t raw_size(int32_t t) {
    switch (t) {
    case OX_FLOAT: case OX_INT32: case OX_UINT32: return 4;
    case OX_DOUBLE: case OX_INT64: case OX_UINT64: return 8;
    case OX_INT16: case OX_UINT16: case OX_FLOAT16: case OX_BFLOAT16: return 2;
    case OX_INT8: case OX_UINT8: case OX_BOOL: return 1;
    default: return 0;
    }
}

static double raw_at(int32_t t, const uint8_t *p) {
    switch (t) {
    case OX_FLOAT: { float v; memcpy(&v, p, 4); return v; }
    case OX_DOUBLE: { double v; memcpy(&v, p, 8); return v; }
    case OX_INT32: { int32_t v; memcpy(&v, p, 4); return v; }
    case OX_UINT32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case OX_INT64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case OX_UINT64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    case OX_INT16: { int16_t v; memcpy(&v, p, 2); return v; }
    case OX_UINT16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case OX_FLOAT16: { uint16_t v; memcpy(&v, p, 2); return half_to_double(v); }
    case OX_BFLOAT16: { uint16_t v; memcpy(&v, p, 2); return bf16_to_double(v); }
    case OX_INT8: return (int8_t)p[0];
    default: return p[0]; /* uint8, bool */
    }
}

static const char *type_name(int32_t t) {
    static const char *const names[] = {"undefined", "float", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                        "string", "bool", "float16", "double", "uint32", "uint64", "complex64",
                                        "complex128", "bfloat16"};
    return t >= 0 && t <= 16 ? names[t] : "unknown";
}

int gd_ox_tensor_read(const Onnx__TensorProto *t, int64_t max_elements, ox_tensor *out, char *why, size_t cap) {
    memset(out, 0, sizeof *out);
    int32_t ty = t->has_data_type ? t->data_type : 0;
    if (t->has_data_location && t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL)
        return snprintf(why, cap, "its data is external (data_location EXTERNAL): gradd reads no files; embed the "
                        "data in the model"), -1;
    if (!raw_size(ty)) return snprintf(why, cap, "gradd has no %s tensors", type_name(ty)), -1;
    if (t->n_dims > GR_MAX_RANK) return snprintf(why, cap, "rank %zu is over %d", t->n_dims, GR_MAX_RANK), -1;
    int64_t n = 1;
    out->rank = (int)t->n_dims;
    for (size_t i = 0; i < t->n_dims; i++) {
        if (t->dims[i] < 0 || (t->dims[i] > 0 && n > max_elements / t->dims[i]))
            return snprintf(why, cap, "its dims are negative or over the element limit"), -1;
        out->dims[i] = t->dims[i];
        n *= t->dims[i];
    }
    if (n > max_elements) return snprintf(why, cap, "its %lld elements are over the limit", (long long)n), -1;
    size_t have;
    if (t->has_raw_data) have = t->raw_data.len / raw_size(ty);
    else if (ty == OX_FLOAT) have = t->n_float_data;
    else if (ty == OX_DOUBLE) have = t->n_double_data;
    else if (ty == OX_INT64) have = t->n_int64_data;
    else if (ty == OX_UINT32 || ty == OX_UINT64) have = t->n_uint64_data;
    else have = t->n_int32_data;
    if ((t->has_raw_data && t->raw_data.len % raw_size(ty)) || have != (size_t)n)
        return snprintf(why, cap, "it holds %zu values for dims of %lld elements", have, (long long)n), -1;
    out->n = n;
    out->is_int = !gd_ox_is_float_type(ty);
    out->v = malloc((size_t)(n ? n : 1) * sizeof *out->v);
    if (!out->v) return snprintf(why, cap, "out of memory"), -1;
    for (int64_t i = 0; i < n; i++) {
        if (t->has_raw_data) out->v[i] = raw_at(ty, t->raw_data.data + (size_t)i * raw_size(ty));
        else if (ty == OX_FLOAT) out->v[i] = t->float_data[i];
        else if (ty == OX_DOUBLE) out->v[i] = t->double_data[i];
        else if (ty == OX_INT64) out->v[i] = (double)t->int64_data[i];
        else if (ty == OX_UINT32 || ty == OX_UINT64) out->v[i] = (double)t->uint64_data[i];
        else if (ty == OX_FLOAT16) out->v[i] = half_to_double((uint16_t)t->int32_data[i]);
        else if (ty == OX_BFLOAT16) out->v[i] = bf16_to_double((uint16_t)t->int32_data[i]);
        else out->v[i] = t->int32_data[i];
    }
    return 0;
}

void gd_ox_tensor_free(ox_tensor *t) {
    free(t->v);
    memset(t, 0, sizeof *t);
}

/* ---- attributes ------------------------------------------------------ */

const char *gd_ox_node_label(const Onnx__NodeProto *n) {
    if (n->name && n->name[0]) return n->name;
    return n->n_output && n->output[0][0] ? n->output[0] : "(unnamed)";
}

const Onnx__AttributeProto *gd_ox_attr(const Onnx__NodeProto *n, const char *name) {
    for (size_t i = 0; i < n->n_attribute; i++)
        if (n->attribute[i]->name && !strcmp(n->attribute[i]->name, name)) return n->attribute[i];
    return NULL;
}

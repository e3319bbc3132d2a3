/* test_tensor_decode.c -- tensors decoded straight into their final
 * buffer (api/tensor.c, api/codec/json.c): a large packed array keeps the
 * reader's scratch buffer (no copy) and is charged to the tree budget as
 * one reused scratch would be; a float64 tensor decoded from packed
 * numbers shares their block with the doc (and with another decode of the
 * same value), outlives the doc, and gd_tensor_own gives it a copy of its
 * own; float32, b64 and binary tensors own their data. Run under the
 * sanitizer build (make test-san), this also checks there is no double
 * free, leak or use after free among the holders. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/b64.h"
#include "codec/json.h"
#include "doc.h"
#include "tensor.h"
#include "testutil.h"

/* "[0.5,1.5,...]" of n numbers i + 0.5 (caller frees). */
static char *list_text(int64_t n) {
    char *s = malloc((size_t)n * 24 + 8), *o = s;
    assert_non_null(s);
    *o++ = '[';
    for (int64_t i = 0; i < n; i++) o += sprintf(o, "%s%lld.5", i ? "," : "", (long long)i);
    *o++ = ']';
    *o = '\0';
    return s;
}

/* Parse text as the API does (no budget); fails the test on error. */
static void parse(const char *text, gd_doc *doc) {
    gd_doc_opts o = {.max_depth = 16};
    gd_err e = {0};
    if (gd_doc_parse(text, strlen(text), &o, doc, &e) < 0) fail_msg("parse: %s", e.message);
}

static gd_limits big_limits(void) {
    gd_limits lim = gd_limits_default();
    lim.max_total_bytes = (int64_t)1 << 40;
    return lim;
}

/* Decode root member key as dt; fails the test on error. */
static void decode(const gd_doc *doc, const char *key, gr_dtype dt, int64_t *budget, gd_tensor *t) {
    gd_limits lim = big_limits();
    gd_err e = {0};
    if (gd_tensor_decode(doc, json_object_get(doc->json.root, key), dt, &lim, budget, "/x", t, &e) < 0)
        fail_msg("decode: %s", e.message);
}

static void check_values(const gd_tensor *t, gr_dtype dt, int64_t n) {
    assert_int_equal(t->n, n);
    for (int64_t i = 0; i < n; i++) {
        double v = dt == GR_F64 ? ((const double *)t->data)[i] : (double)((const float *)t->data)[i];
        if (v != (double)i + 0.5) fail_msg("element %lld is %g", (long long)i, v);
    }
}

/* A big array keeps the scratch: the budget of a doc with two of them is
 * the one-array doc's plus the second array's numbers (plus a little), not
 * plus a second scratch as well. */
static void test_scratch_adopted_budget_unchanged(void **state) {
    (void)state;
    const int64_t n = 3 * CD_ADOPT_MIN;
    char *a = list_text(n), *one = malloc(strlen(a) + 16), *two = malloc(2 * strlen(a) + 32);
    assert_non_null(one);
    assert_non_null(two);
    sprintf(one, "{\"x\":%s}", a);
    sprintf(two, "{\"x\":%s,\"y\":%s}", a, a);
    gd_doc d1, d2;
    parse(one, &d1);
    parse(two, &d2);
    int64_t more = d2.json.bytes - d1.json.bytes, numbers = n * (int64_t)sizeof(double);
    if (more < numbers || more > numbers + 1024)
        fail_msg("the second array cost %lld bytes of budget, for %lld bytes of numbers", (long long)more,
                 (long long)numbers);
    const cd_packed *px = cd_doc_packed(&d2.json, json_object_get(d2.json.root, "x"));
    const cd_packed *py = cd_doc_packed(&d2.json, json_object_get(d2.json.root, "y"));
    assert_non_null(px);
    assert_non_null(py);
    assert_ptr_not_equal(px->data, py->data);
    for (int64_t i = 0; i < n; i++) assert_true(px->data[i] == py->data[i] && px->data[i] == (double)i + 0.5);
    gd_doc_free(&d1);
    gd_doc_free(&d2);
    free(a);
    free(one);
    free(two);
}

/* float64 from a packed array, nested and flat: shared with the doc, two
 * decodes of one value share one block, and both outlive the doc. */
static void test_f64_shares_packed(void **state) {
    (void)state;
    for (int pass = 0; pass < 2; pass++) { /* small arrays are copied out of the scratch, big ones keep it */
        const int64_t n = pass ? 2 * CD_ADOPT_MIN : CD_PACK_MIN + 3;
        char *a = list_text(n), *body = malloc(2 * strlen(a) + 64);
        assert_non_null(body);
        sprintf(body, "{\"x\":%s,\"f\":{\"shape\":[%lld],\"data\":%s}}", a, (long long)n, a);
        gd_doc doc;
        parse(body, &doc);
        int64_t budget = (int64_t)1 << 40;
        gd_tensor t1, t2, t3;
        decode(&doc, "x", GR_F64, &budget, &t1);
        decode(&doc, "x", GR_F64, &budget, &t2);
        decode(&doc, "f", GR_F64, &budget, &t3);
        assert_int_equal(((int64_t)1 << 40) - budget, 3 * n * (int64_t)sizeof(double)); /* charged as before */
        assert_non_null(t1.shared);
        assert_ptr_equal(t1.shared, t2.shared);
        assert_ptr_equal(t1.data, t2.data);
        assert_ptr_equal(t1.data, cd_doc_packed(&doc.json, json_object_get(doc.json.root, "x"))->data);
        assert_non_null(t3.shared);
        gd_doc_free(&doc); /* the tensors keep the numbers */
        check_values(&t1, GR_F64, n);
        check_values(&t3, GR_F64, n);
        assert_int_equal(gd_tensor_own(&t2, GR_F64), 0); /* a copy of its own: writing it changes only it */
        assert_null(t2.shared);
        assert_ptr_not_equal(t2.data, t1.data);
        ((double *)t2.data)[0] = -1;
        check_values(&t1, GR_F64, n);
        assert_int_equal(gd_tensor_own(&t2, GR_F64), 0); /* already its own: nothing */
        gd_tensor_free(&t1);
        gd_tensor_free(&t2);
        gd_tensor_free(&t3);
        assert_null(t1.data);
        gd_tensor_free(&t1); /* freeing twice is harmless */
        free(a);
        free(body);
    }
}

/* float32 from packed numbers converts into data of its own. */
static void test_f32_owns(void **state) {
    (void)state;
    const int64_t n = 2 * CD_ADOPT_MIN;
    char *a = list_text(n), *body = malloc(strlen(a) + 16);
    assert_non_null(body);
    sprintf(body, "{\"x\":%s}", a);
    gd_doc doc;
    parse(body, &doc);
    int64_t budget = (int64_t)1 << 40;
    gd_tensor t;
    decode(&doc, "x", GR_F32, &budget, &t);
    assert_null(t.shared);
    gd_doc_free(&doc);
    check_values(&t, GR_F32, n);
    gd_tensor_free(&t);
    free(a);
    free(body);
}

/* b64 decodes into the tensor's own buffer, binary data is copied from
 * the body: neither points into the body. */
static void test_b64_and_binary_own(void **state) {
    (void)state;
    const int64_t n = 100;
    double v[100];
    for (int i = 0; i < n; i++) v[i] = i + 0.5;
    char b64[1200], body[1400];
    b64[cd_b64_encode(v, sizeof v, b64)] = '\0';
    snprintf(body, sizeof body, "{\"x\":{\"shape\":[100],\"b64\":\"%s\"}}", b64);
    gd_doc doc;
    parse(body, &doc);
    int64_t budget = (int64_t)1 << 40;
    gd_tensor t;
    decode(&doc, "x", GR_F64, &budget, &t);
    assert_null(t.shared);
    gd_doc_free(&doc);
    check_values(&t, GR_F64, n);
    gd_tensor_free(&t);

    char json[128];
    snprintf(json, sizeof json, "{\"x\":{\"shape\":[100],\"parameters\":{\"binary_data_size\":%zu}}}", sizeof v);
    parse(json, &doc);
    assert_int_equal(doc.json.nrecords, 1);
    doc.binary = (const char *)v; /* what the API's binary layout sets for one record */
    doc.binoff = calloc(1, sizeof *doc.binoff);
    assert_non_null(doc.binoff);
    decode(&doc, "x", GR_F64, &budget, &t);
    assert_null(t.shared);
    assert_ptr_not_equal(t.data, v);
    gd_doc_free(&doc);
    check_values(&t, GR_F64, n);
    gd_tensor_free(&t);
}

/* A failed decode of packed numbers (over the byte budget) holds nothing. */
static void test_failure_holds_nothing(void **state) {
    (void)state;
    const int64_t n = 2 * CD_ADOPT_MIN;
    char *a = list_text(n), *body = malloc(strlen(a) + 16);
    assert_non_null(body);
    sprintf(body, "{\"x\":%s}", a);
    gd_doc doc;
    parse(body, &doc);
    gd_limits lim = big_limits();
    int64_t budget = n * (int64_t)sizeof(double) - 1;
    gd_tensor t;
    gd_err e = {0};
    assert_int_equal(gd_tensor_decode(&doc, json_object_get(doc.json.root, "x"), GR_F64, &lim, &budget, "/x", &t, &e),
                     -1);
    assert_int_equal(e.status, 413);
    assert_null(t.data);
    assert_null(t.shared);
    gd_doc_free(&doc);
    free(a);
    free(body);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scratch_adopted_budget_unchanged),
        cmocka_unit_test(test_f64_shares_packed),
        cmocka_unit_test(test_f32_owns),
        cmocka_unit_test(test_b64_and_binary_own),
        cmocka_unit_test(test_failure_holds_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

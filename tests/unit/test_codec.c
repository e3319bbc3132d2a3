/* test_codec.c -- the codec's reader (api/codec/json.h) as a caller sees
 * it: the options that replace field names (span_keys, record_keys,
 * root_keys), its own error (kind, offset, line, column, path, key,
 * message), and the API's mapping of those errors (api/doc.h) to the
 * statuses, codes, paths and messages the HTTP API has always given. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/error.h"
#include "codec/json.h"
#include "doc.h"
#include "testutil.h"

/* Parse text (copied into a buffer of exactly its length, so that the
 * sanitizer build sees any read past the end) under o; the result, with
 * *d and *e filled. */
static int parse(const char *text, const cd_json_opts *o, cd_doc *d, cd_err *e) {
    size_t len = strlen(text);
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    int r = cd_json_parse(copy, len, o, d, e);
    if (r == 0) { /* spans point into the text: keep a copy the test can free later */
        for (int i = 0; i < d->nspans; i++) d->spans[i].text = text + (d->spans[i].text - copy);
    }
    free(copy);
    return r;
}

static const json_t *at(const json_t *v, const char *key) {
    const json_t *m = json_object_get(v, key);
    assert_non_null(m);
    return m;
}

/* span_keys: string values under those keys stay spans of the text when
 * they hold no escape; with one they are read and decoded as any other
 * string (an escaped quote does not end them: "\/" is how some encoders
 * write base64's '/'); other strings, and the same key without the
 * option, are decoded. */
static void test_span_keys(void **state) {
    (void)state;
    static const char *const spans[] = {"b64", "raw", NULL};
    const char *text = "{\"b64\":\"AB+/cd==\",\"x\":{\"raw\":\"AA\\u0041\"},\"q\":{\"b64\":\"a\\\"b\\/c\"},"
                       "\"y\":[\"b64\"],\"z\":{\"b64\":1},\"s\":\"a\\nb\"}";
    cd_doc d;
    cd_err e;
    cd_json_opts o = {.max_depth = 8, .span_keys = spans};
    assert_int_equal(parse(text, &o, &d, &e), 0);
    assert_int_equal(e.kind, CD_OK);
    assert_int_equal(d.nspans, 1);
    size_t len;
    const char *t = cd_doc_text(&d, at(d.root, "b64"), &len);
    assert_int_equal(len, 8); /* a span: the text itself */
    assert_memory_equal(t, "AB+/cd==", 8);
    assert_true(t > text && t < text + strlen(text));
    t = cd_doc_text(&d, at(at(d.root, "x"), "raw"), &len); /* an escape: decoded */
    assert_int_equal(len, 3);
    assert_memory_equal(t, "AAA", 3);
    t = cd_doc_text(&d, at(at(d.root, "q"), "b64"), &len); /* an escaped quote and slash */
    assert_int_equal(len, 5);
    assert_memory_equal(t, "a\"b/c", 5);
    t = cd_doc_text(&d, at(d.root, "s"), &len); /* an ordinary string, decoded */
    assert_int_equal(len, 3);
    assert_memory_equal(t, "a\nb", 3);
    t = cd_doc_text(&d, json_array_get(at(d.root, "y"), 0), &len); /* in an array: not under a key */
    assert_string_equal(t, "b64");
    assert_true(json_is_integer(at(at(d.root, "z"), "b64"))); /* not a string: an ordinary value */
    assert_null(cd_doc_text(&d, at(at(d.root, "z"), "b64"), &len));
    cd_doc_free(&d);

    /* Without the option the reader knows no such key. */
    cd_json_opts plain = {.max_depth = 8};
    assert_int_equal(parse(text, &plain, &d, &e), 0);
    assert_int_equal(d.nspans, 0);
    t = cd_doc_text(&d, at(d.root, "b64"), &len);
    assert_int_equal(len, 8);
    assert_memory_equal(t, "AB+/cd==", 8);
    cd_doc_free(&d);
}

/* record_keys: objects holding such a key, in the order the key appears
 * in the text, each object once. */
static void test_record_keys(void **state) {
    (void)state;
    static const char *const rec[] = {"parameters", "other", NULL};
    const char *text = "{\"a\":{\"parameters\":{\"n\":1},\"k\":{\"parameters\":2}},"
                       "\"b\":{\"q\":1,\"other\":3,\"parameters\":4},\"c\":[{\"parameters\":5}],\"parameters\":6}";
    cd_doc d;
    cd_err e;
    cd_json_opts o = {.max_depth = 8, .record_keys = rec};
    assert_int_equal(parse(text, &o, &d, &e), 0);
    assert_int_equal(d.nrecords, 5);
    const json_t *a = at(d.root, "a");
    assert_ptr_equal(d.records[0], a);
    assert_ptr_equal(d.records[1], at(a, "k"));
    assert_ptr_equal(d.records[2], at(d.root, "b")); /* once, though it holds two of the keys */
    assert_ptr_equal(d.records[3], json_array_get(at(d.root, "c"), 0));
    assert_ptr_equal(d.records[4], d.root);
    cd_doc_free(&d);

    cd_json_opts plain = {.max_depth = 8};
    assert_int_equal(parse(text, &plain, &d, &e), 0);
    assert_int_equal(d.nrecords, 0);
    cd_doc_free(&d);
}

/* root_keys: checked on the root object only, as each key is read. */
static void test_root_keys(void **state) {
    (void)state;
    static const char *const root[] = {"a", "b", NULL};
    cd_doc d;
    cd_err e;
    cd_json_opts o = {.max_depth = 8, .root_keys = root};
    assert_int_equal(parse("{\"a\":{\"zz\":1},\"b\":[{\"yy\":2}]}", &o, &d, &e), 0); /* nested keys are free */
    cd_doc_free(&d);
    assert_int_equal(parse("[{\"zz\":1}]", &o, &d, &e), 0); /* no root object, nothing to check */
    cd_doc_free(&d);
    /* The unknown key is refused before its value is read (the value here
     * is not even JSON). */
    assert_int_equal(parse("{\"a\":1,\n \"a/~b\": nonsense", &o, &d, &e), -1);
    assert_int_equal(e.kind, CD_E_UNKNOWN_ROOT_KEY);
    assert_string_equal(e.key, "a/~b");
    assert_string_equal(e.path, "/a~1~0b");
    assert_int_equal(e.offset, 15); /* just past the key */
    assert_int_equal(e.line, 2);
    assert_int_equal(e.column, 8);
    assert_string_equal(e.message, "the root object may not have the key \"a/~b\"");
    assert_null(d.root);
}

/* One error: kind, place, path, key, message. */
typedef struct err_case {
    const char *text;
    int max_depth;
    int64_t max_bytes;
    cd_err_kind kind;
    size_t offset;
    long line, column;
    const char *path, *key, *message;
} err_case;

static void test_errors(void **state) {
    (void)state;
    static const err_case cases[] = {
        {"", 8, 0, CD_E_SYNTAX, 0, 1, 1, "", "", "unexpected end of the body at line 1, column 1"},
        {"{\n  \"a\": [1,\n   2,]}", 8, 0, CD_E_SYNTAX, 18, 3, 6, "", "", "unexpected character at line 3, column 6"},
        {"{\"a\":01}", 8, 0, CD_E_SYNTAX, 5, 1, 6, "", "", "a malformed number at line 1, column 6"},
        {"[1e400]", 8, 0, CD_E_SYNTAX, 1, 1, 2, "", "", "a number beyond the float64 range at line 1, column 2"},
        {"[\"\\ud800\"]", 8, 0, CD_E_SYNTAX, 8, 1, 9, "", "", "an unpaired surrogate in a \\u escape at line 1, column 9"},
        {"[\"\xc3\x28\"]", 8, 0, CD_E_SYNTAX, 2, 1, 3, "", "", "invalid UTF-8 in a string at line 1, column 3"},
        {"{\"a\":1} x", 8, 0, CD_E_SYNTAX, 8, 1, 9, "", "", "text after the JSON value at line 1, column 9"},
        {"{\"a\":[{\"b\":1,\"b\":2}]}", 8, 0, CD_E_DUPLICATE_KEY, 16, 1, 17, "/a/0/b", "b",
         "the key \"b\" appears twice in one object"},
        {"{\"x~/\":{\"k\":1,\"k\":2}}", 8, 0, CD_E_DUPLICATE_KEY, 17, 1, 18, "/x~0~1/k", "k",
         "the key \"k\" appears twice in one object"},
        {"[[[1]]]", 2, 0, CD_E_DEPTH, 2, 1, 3, "", "", "the JSON nests deeper than the limit of 2 levels"},
        {"{\"a\":[{},{},{},{},{},{},{}]}", 8, 1000, CD_E_BUDGET, 9, 1, 10, "/a", "",
         "holding this JSON would take more than 1000 bytes of memory, the limit for its 28 bytes of text"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const err_case *c = &cases[i];
        cd_doc d;
        cd_err e;
        cd_json_opts o = {.max_depth = c->max_depth, .max_bytes = c->max_bytes};
        if (parse(c->text, &o, &d, &e) != -1) fail_msg("case %zu: parsed", i);
        if (e.kind != c->kind || e.offset != c->offset || e.line != c->line || e.column != c->column ||
            strcmp(e.path, c->path) || strcmp(e.key, c->key) || strcmp(e.message, c->message))
            fail_msg("case %zu: %s at %zu (%ld:%ld) path '%s' key '%s': %s", i, cd_err_kind_name(e.kind), e.offset,
                     e.line, e.column, e.path, e.key, e.message);
        assert_null(d.root);
        assert_int_equal(d.npacked + d.nspans + d.nrecords, 0);
    }

    /* A key over CD_KEY_MAX bytes. */
    char *big = malloc(CD_KEY_MAX + 16);
    assert_non_null(big);
    strcpy(big, "{\"");
    memset(big + 2, 'k', CD_KEY_MAX + 1);
    strcpy(big + 2 + CD_KEY_MAX + 1, "\":1}");
    cd_doc d;
    cd_err e;
    cd_json_opts o = {.max_depth = 8};
    assert_int_equal(parse(big, &o, &d, &e), -1);
    assert_int_equal(e.kind, CD_E_KEY_LENGTH);
    assert_string_equal(e.message, "a key of 1025 bytes is over the limit of 1024");
    free(big);

    /* Cancelled: the flag is read every 4096 charges. */
    size_t n = 10000;
    char *many = malloc(3 * n + 3);
    assert_non_null(many);
    many[0] = '[';
    for (size_t k = 0; k < n; k++) memcpy(many + 1 + 3 * k, k + 1 < n ? "\"\"," : "\"\"]", 3);
    many[3 * n + 1] = '\0';
    volatile int cancel = 1;
    cd_json_opts oc = {.max_depth = 8, .cancel = &cancel};
    assert_int_equal(parse(many, &oc, &d, &e), -1);
    assert_int_equal(e.kind, CD_E_CANCELLED);
    cancel = 0;
    assert_int_equal(parse(many, &oc, &d, &e), 0);
    assert_int_equal(e.kind, CD_OK);
    cd_doc_free(&d);
    free(many);

    /* The kinds' names are stable. */
    assert_string_equal(cd_err_kind_name(CD_E_SYNTAX), "syntax");
    assert_string_equal(cd_err_kind_name(CD_E_UNKNOWN_ROOT_KEY), "unknown_root_key");
    assert_string_equal(cd_err_kind_name(CD_E_CANCELLED), "cancelled");
}

/* The API's reading of a body: every codec error becomes the status,
 * code, path and message the API has always given for it. */
typedef struct api_case {
    const char *text;
    int64_t max_bytes;
    int cancel;
    int status;
    const char *code, *path, *message;
} api_case;

static void test_api_mapping(void **state) {
    (void)state;
    static const char *const top[] = {"graph", "inputs", NULL};
    static const api_case cases[] = {
        {"{\"graph\":", 0, 0, 400, "invalid_json", "", "the body is not valid JSON: unexpected end of the body at line 1, "
                                                       "column 10"},
        {"{\"inputs\":{\"x\":{\"a\":1,\"a\":2}}}", 0, 0, 400, "duplicate_key", "/inputs/x/a",
         "the key \"a\" appears twice in one object"},
        {"{\"graph\":\"x\",\"gaph\":1}", 0, 0, 400, "unknown_field", "/gaph",
         "unknown field \"gaph\" in a /v1/forward request; it takes graph, inputs"},
        {"{\"inputs\":[[[[[[[[[[1]]]]]]]]]]}", 0, 0, 413, "limit_exceeded", "",
         "the JSON nests deeper than the limit of 8 levels"},
        {"{\"inputs\":[{},{},{},{},{},{}]}", 1000, 0, 413, "limit_exceeded", "/inputs",
         "holding this body's JSON would take more than 1000 bytes of memory, the limit for a body of 30 bytes: send "
         "tensors as rectangular arrays of numbers, b64 or binary data"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const api_case *c = &cases[i];
        gd_doc d;
        gd_err e = {0};
        gd_doc_opts o = {.max_depth = 8, .max_bytes = c->max_bytes, .top_fields = top, .top_what = "a /v1/forward request"};
        assert_int_equal(gd_doc_parse(c->text, strlen(c->text), &o, &d, &e), -1);
        if (e.status != c->status || strcmp(e.code, c->code) || strcmp(e.path, c->path) || strcmp(e.message, c->message))
            fail_msg("case %zu: %d %s at '%s': %s", i, e.status, e.code, e.path, e.message);
    }
    /* The remaining kinds, mapped directly. */
    gd_doc_opts o = {.max_depth = 8, .top_fields = top, .top_what = "a /v1/forward request"};
    cd_err ce = {.kind = CD_E_KEY_LENGTH};
    snprintf(ce.message, sizeof ce.message, "a key of 2000 bytes is over the limit of 1024");
    gd_err e = {0};
    gd_doc_fail(&e, &ce, &o, 10);
    assert_int_equal(e.status, 413);
    assert_string_equal(e.code, "limit_exceeded");
    assert_string_equal(e.message, "a key of 2000 bytes is over the limit of 1024");
    memset(&e, 0, sizeof e);
    ce.kind = CD_E_NOMEM;
    gd_doc_fail(&e, &ce, &o, 10);
    assert_int_equal(e.status, 413);
    assert_string_equal(e.message, "out of memory reading the body");
    memset(&e, 0, sizeof e);
    ce.kind = CD_E_CANCELLED;
    gd_doc_fail(&e, &ce, &o, 10);
    assert_int_equal(e.status, 504);
    assert_string_equal(e.code, "cancelled");
    assert_string_equal(e.message, "the request was cancelled while its body was being read");

    /* "b64" values are spans, objects holding "parameters" are records. */
    const char *ok = "{\"inputs\":{\"x\":{\"shape\":[1],\"b64\":\"AAAA\"},\"y\":{\"parameters\":{\"binary_data_size\":8}}}}";
    gd_doc d;
    memset(&e, 0, sizeof e);
    assert_int_equal(gd_doc_parse(ok, strlen(ok), &o, &d, &e), 0);
    assert_int_equal(d.json.nspans, 1);
    assert_int_equal(d.json.nrecords, 1);
    assert_int_equal(gd_doc_record(&d, at(at(d.json.root, "inputs"), "y")), 0);
    assert_int_equal(gd_doc_record(&d, at(at(d.json.root, "inputs"), "x")), -1);
    gd_doc_free(&d);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_span_keys),
        cmocka_unit_test(test_record_keys),
        cmocka_unit_test(test_root_keys),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_api_mapping),
    };
    return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}

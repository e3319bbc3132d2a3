/* test_onnx_buffers.c -- /v1/step on an ONNX model with BatchNormalization
 * in training mode updates its running statistics ("buffers") as PyTorch
 * does and answers them: the rule by hand, the model's values by default,
 * buffers as values under the program cache, the streamed answer's last
 * line, a step dropped for a non-finite param, and "buffers" refused where
 * there are none.
 *
 * The model (float64, opset 15): Y = BatchNormalization(x, s, b, m, v)
 * with epsilon 1e-5, momentum 0.9 (ONNX's weight of the old value: torch's
 * 0.1), training_mode 1; s = b = 1, m = 0, v = 1. The loss sum(y*y*x) over
 * x = [[[1, 2]], [[4, 3]]] (one channel, n = 4 values): the batch mean is
 * 2.5 and the unbiased batch variance 5/3 (the biased one, 1.25,
 * normalises). x is an input, so every step sees the same batch: from
 * (m, v) a step gives (0.9 m + 0.25, 0.9 v + 1/6). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cache.h"

#define BN_ONNX                                                                                                       \
    "CAg65wEKYwoBeAoBcwoBYgoBbQoBdhIBeSISQmF0Y2hOb3JtYWxpemF0aW9uKhEKB2Vwc2lsb24VrMUnN6ABASoSCghtb21lbnR1bRVmZmY/"     \
    "oAEBKhQKDXRyYWluaW5nX21vZGUYAaABAhICYm4qEQgBEAtCAXNKCAAAAAAAAPA/KhEIARALQgFiSggAAAAAAADwPyoRCAEQC0IBbUoIAAAAAAA" \
    "AAAAqEQgBEAtCAXZKCAAAAAAAAPA/WhcKAXgSEgoQCAsSDAoCCAIKAggBCgIIAmIXCgF5EhIKEAgLEgwKAggCCgIIAQoCCAJCBAoAEA8="
#define BODY(extra)                                                                                                   \
    "{\"graph\":{\"onnx\":\"" BN_ONNX "\",\"loss\":\"sum(y*y*x)\"},\"inputs\":{\"x\":[[[1,2]],[[4,3]]]}" extra "}"

typedef struct answer {
    int status;
    char *body;
    json_t *json; /* the body, or its last line when streamed */
} answer;

static answer call(const char *body, gd_cache *cache) {
    gd_call c = {.route = "step", .body = body, .len = strlen(body), .cache = cache};
    gd_response res;
    gd_handle_call(&c, &res);
    answer a = {res.status, malloc(res.len + 1), NULL};
    assert_non_null(a.body);
    memcpy(a.body, res.body, res.len);
    a.body[res.len] = '\0';
    gd_response_free(&res);
    const char *last = a.body;
    for (const char *p = a.body; *p; p++)
        if (*p == '\n' && p[1]) last = p + 1;
    a.json = json_loads(last, JSON_DECODE_ANY, NULL);
    assert_non_null(a.json);
    return a;
}

static void answer_free(answer *a) {
    free(a->body);
    json_decref(a->json);
}

/* The one-element buffer name of the answer. */
static double buffer(const answer *a, const char *name) {
    json_t *v = json_object_get(json_object_get(a->json, "buffers"), name);
    if (!json_is_array(v) || json_array_size(v) != 1) fail_msg("no buffer %s in %s", name, a->body);
    return json_number_value(json_array_get(v, 0));
}

static void test_the_update_rule_by_hand(void **state) {
    (void)state;
    answer a = call(BODY(",\"buffers\":{\"m\":[0.5],\"v\":[2]},\"steps\":2"), NULL);
    assert_int_equal(a.status, 200);
    double m = 0.5, v = 2;
    for (int k = 0; k < 2; k++) m = 0.9 * m + 0.1 * 2.5, v = 0.9 * v + 0.1 * (5.0 / 3);
    assert_true(fabs(buffer(&a, "m") - m) < 1e-15);
    assert_true(fabs(buffer(&a, "v") - v) < 1e-15);
    assert_null(json_object_get(json_object_get(a.json, "params"), "m")); /* buffers are no params */
    answer_free(&a);
}

static void test_the_model_values_by_default(void **state) {
    (void)state;
    answer a = call(BODY(""), NULL);
    assert_int_equal(a.status, 200);
    assert_true(fabs(buffer(&a, "m") - 0.25) < 1e-15);
    assert_true(fabs(buffer(&a, "v") - (0.9 + 1.0 / 6)) < 1e-15);
    answer_free(&a);
}

/* Other buffers take the cached program and answer their own: equal to
 * the answer without a cache, up to the stats. */
static void test_buffers_are_values_under_the_cache(void **state) {
    (void)state;
    const char *bodies[] = {BODY(",\"buffers\":{\"m\":[0.5],\"v\":[2]}"), BODY(",\"buffers\":{\"m\":[-1],\"v\":[4]}"),
                            BODY("")};
    gd_cache *cache = gd_cache_new(16, 1 << 30);
    for (int i = 0; i < 3; i++) {
        answer with = call(bodies[i], cache), without = call(bodies[i], NULL);
        assert_int_equal(with.status, 200);
        json_object_del(with.json, "stats");
        json_object_del(without.json, "stats");
        if (!json_equal(with.json, without.json))
            fail_msg("request %d: %s\nwithout a cache: %s", i, with.body, without.body);
        answer_free(&with);
        answer_free(&without);
    }
    unsigned long long hits, misses;
    gd_cache_stats(cache, &hits, &misses);
    assert_int_equal(hits, 2);
    gd_cache_free(cache);
}

static void test_a_streamed_answer_carries_them(void **state) {
    (void)state;
    answer s = call(BODY(",\"buffers\":{\"m\":[0.5],\"v\":[2]},\"steps\":3,\"stream\":true"), NULL);
    answer p = call(BODY(",\"buffers\":{\"m\":[0.5],\"v\":[2]},\"steps\":3"), NULL);
    assert_int_equal(s.status, 200);
    assert_non_null(strchr(s.body, '\n'));
    assert_true(json_equal(json_object_get(s.json, "buffers"), json_object_get(p.json, "buffers")));
    answer_free(&s);
    answer_free(&p);
}

/* A step whose params turn infinite is not kept: nor is its update of
 * the buffers. */
static void test_a_dropped_step_updates_nothing(void **state) {
    (void)state;
    answer a = call(BODY(",\"buffers\":{\"m\":[0.5],\"v\":[2]},\"optimizer\":{\"lr\":1e308}"), NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(json_object_get(a.json, "stopped")), "non_finite");
    assert_true(buffer(&a, "m") == 0.5 && buffer(&a, "v") == 2);
    answer_free(&a);
}

static void test_buffers_only_where_the_model_has_them(void **state) {
    (void)state;
    answer a = call("{\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[1]},\"params\":{\"w\":[2]},\"buffers\":{\"m\":[1]}}",
                    NULL);
    assert_int_equal(a.status, 400);
    assert_string_equal(json_string_value(json_object_get(a.json, "path")), "/buffers/m");
    answer_free(&a);
    answer b = call(BODY(",\"buffers\":{\"s\":[1]}"), NULL); /* a param */
    assert_int_equal(b.status, 400);
    assert_string_equal(json_string_value(json_object_get(b.json, "path")), "/buffers/s");
    answer_free(&b);
}

int main(void) {
    gd_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_the_update_rule_by_hand),
        cmocka_unit_test(test_the_model_values_by_default),
        cmocka_unit_test(test_buffers_are_values_under_the_cache),
        cmocka_unit_test(test_a_streamed_answer_carries_them),
        cmocka_unit_test(test_a_dropped_step_updates_nothing),
        cmocka_unit_test(test_buffers_only_where_the_model_has_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

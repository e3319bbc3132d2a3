/* test_stream.c -- /v1/step's long work: streamed NDJSON lines (through
 * gd_call.on_line as they are made, or all in the body), a deadline that
 * keeps the completed steps, and the cancel message counting optimizer
 * steps. Expected numbers by hand: f = (w*x - y)^2 at x = 2, y = 3 with SGD
 * lr 0.1 has df/dw = 8w - 12, so w goes 1 -> 1.4 -> 1.48 -> 1.496 and the
 * losses are 1, 0.04, 0.0016. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"

#define BODY(extra) "{\"graph\":\"(w*x - y)^2\",\"params\":{\"w\":1},\"inputs\":{\"x\":2,\"y\":3}," \
                    "\"optimizer\":{\"lr\":0.1}" extra "}"

/* What the line callback saw; it may raise the cancel flag after a line. */
typedef struct seen {
    int lines;
    int64_t steps[16];
    double losses[16];
    int cancel_after;   /* raise *cancel after this many lines (0: never) */
    volatile int *cancel;
} seen;

static void on_line(void *ctx, const char *line, size_t len) {
    seen *s = ctx;
    assert_true(len > 1 && line[len - 1] == '\n');
    json_t *j = json_loadb(line, len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 3);
    assert_true(json_is_number(json_object_get(j, "elapsed_ms")));
    if (s->lines < 16) {
        s->steps[s->lines] = json_integer_value(json_object_get(j, "step"));
        s->losses[s->lines] = json_number_value(json_object_get(j, "loss"));
    }
    s->lines++;
    json_decref(j);
    if (s->cancel_after && s->lines == s->cancel_after) *s->cancel = 1;
}

/* The lines of body (len bytes, each ending in '\n'), parsed, into out;
 * returns how many. */
static int split_lines(const char *body, size_t len, json_t **out, int max) {
    int n = 0;
    const char *p = body, *end = body + len;
    while (p < end && n < max) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        out[n] = json_loadb(p, (size_t)(nl - p), 0, NULL);
        assert_non_null(out[n]);
        n++;
        p = nl + 1;
    }
    assert_true(p == end);
    return n;
}

static void test_lines_go_to_the_callback_as_steps_complete(void **state) {
    (void)state;
    const char *body = BODY(",\"steps\":5,\"report_every\":2,\"stream\":true");
    seen s = {0};
    gd_call c = {.route = "step", .body = body, .len = strlen(body), .on_line = on_line, .line_ctx = &s};
    gd_response res;
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, 200);
    assert_true(res.ndjson && res.streamed);
    assert_int_equal(s.lines, 2);
    assert_int_equal(s.steps[0], 2);
    assert_int_equal(s.steps[1], 4);
    assert_true(fabs(s.losses[0] - 0.04) < 1e-12);
    json_t *last[2];
    assert_int_equal(split_lines(res.body, res.len, last, 2), 1); /* the final line only */
    assert_int_equal(json_integer_value(json_object_get(last[0], "completed_steps")), 5);
    assert_int_equal(json_array_size(json_object_get(last[0], "losses")), 5);
    assert_null(json_object_get(last[0], "stopped"));
    json_decref(last[0]);
    gd_response_free(&res);
}

static void test_without_a_callback_every_line_is_in_the_body(void **state) {
    (void)state;
    const char *body = BODY(",\"steps\":3"); /* streamed by the caller's Accept, not the body */
    gd_call c = {.route = "step", .body = body, .len = strlen(body), .stream = 1};
    gd_response res;
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, 200);
    assert_true(res.ndjson && !res.streamed);
    json_t *l[8];
    int n = split_lines(res.body, res.len, l, 8);
    assert_int_equal(n, 4);
    for (int i = 0; i < 3; i++) assert_int_equal(json_integer_value(json_object_get(l[i], "step")), i + 1);
    assert_true(fabs(json_number_value(json_object_get(l[2], "loss")) - 0.0016) < 1e-12);
    assert_true(fabs(json_number_value(json_object_get(json_object_get(l[3], "params"), "w")) - 1.496) < 1e-12);
    for (int i = 0; i < n; i++) json_decref(l[i]);
    gd_response_free(&res);
}

static void test_an_error_after_the_first_line_is_the_last_line(void **state) {
    (void)state;
    const char *body = "{\"graph\":\"sum((w*x - 3)^2)\",\"params\":{\"w\":[3,4]},\"stream\":true,"
                       "\"batches\":[{\"x\":[1,2]},{\"x\":[1,2]},{\"x\":[1,2,3]}]}";
    gd_response res;
    gd_handle("step", body, strlen(body), NULL, &res);
    assert_int_equal(res.status, 200);
    json_t *l[8];
    int n = split_lines(res.body, res.len, l, 8);
    assert_int_equal(n, 3);
    assert_string_equal(json_string_value(json_object_get(l[2], "code")), "shape_mismatch");
    assert_string_equal(json_string_value(json_object_get(l[2], "path")), "/batches/2/x");
    for (int i = 0; i < n; i++) json_decref(l[i]);
    gd_response_free(&res);
}

static void test_an_error_before_any_line_keeps_its_status(void **state) {
    (void)state;
    const char *body = "{\"graph\":\"sum(w*x)\",\"params\":{\"w\":[3,4]},\"stream\":true}";
    gd_response res;
    gd_handle("step", body, strlen(body), NULL, &res);
    assert_int_equal(res.status, 400);
    assert_false(res.ndjson);
    assert_non_null(strstr(res.body, "missing_value"));
    gd_response_free(&res);
}

/* The deadline's flag comes up after the third step: the answer keeps the
 * three steps' work. */
static void test_a_deadline_keeps_the_completed_steps(void **state) {
    (void)state;
    const char *body = BODY(",\"steps\":1000,\"stream\":true");
    volatile int cancel = 0;
    seen s = {.cancel_after = 3, .cancel = &cancel};
    gd_call c = {.route = "step", .body = body, .len = strlen(body), .cancel = &cancel, .on_line = on_line,
                 .line_ctx = &s};
    gd_response res;
    gd_handle_call(&c, &res);
    assert_int_equal(res.status, 200);
    json_t *l[2];
    assert_int_equal(split_lines(res.body, res.len, l, 2), 1);
    json_t *j = l[0];
    assert_string_equal(json_string_value(json_object_get(j, "stopped")), "deadline");
    assert_int_equal(json_integer_value(json_object_get(j, "completed_steps")), 3);
    assert_true(fabs(json_number_value(json_object_get(json_object_get(j, "params"), "w")) - 1.496) < 1e-12);
    assert_int_equal(json_array_size(json_object_get(j, "losses")), 3);
    json_decref(j);
    gd_response_free(&res);
}

static void *raise_later(void *arg) {
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    *(volatile int *)arg = 1;
    return NULL;
}

/* Cut while the first step runs (a step of several GFLOP, the flag up
 * after 100 ms): 504, counted in optimizer steps, not instructions. */
static void test_a_deadline_before_any_step_counts_optimizer_steps(void **state) {
    (void)state;
    const char *body = "{\"graph\":\"sum((ones(shape=[1500,1500]) * w) @ ones(shape=[1500,1500]))\","
                       "\"params\":{\"w\":1},\"steps\":2000}";
    volatile int cancel = 0;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, raise_later, (void *)&cancel), 0);
    gd_call c = {.route = "step", .body = body, .len = strlen(body), .cancel = &cancel};
    gd_response res;
    gd_handle_call(&c, &res);
    pthread_join(th, NULL);
    assert_int_equal(res.status, 504);
    if (!strstr(res.body, "0 of its 2000 optimizer steps")) printf("# %s\n", res.body);
    assert_non_null(strstr(res.body, "0 of its 2000 optimizer steps"));
    gd_response_free(&res);
}

/* Adam's state survives a non-finite stop: the dropped step leaves m, v
 * and the step count as they were. */
static void test_a_non_finite_step_is_not_kept(void **state) {
    (void)state;
    const char *body = "{\"graph\":\"(w*x - y)^2\",\"params\":{\"w\":1},\"inputs\":{\"x\":2,\"y\":3},"
                       "\"optimizer\":{\"name\":\"sgd\",\"lr\":1e308,\"momentum\":0.5},"
                       "\"state\":{\"velocity\":{\"w\":0.25}},\"steps\":3}";
    gd_response res;
    gd_handle("step", body, strlen(body), NULL, &res);
    assert_int_equal(res.status, 200);
    json_t *j = json_loadb(res.body, res.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "stopped")), "non_finite");
    assert_int_equal(json_integer_value(json_object_get(j, "completed_steps")), 0);
    assert_true(json_number_value(json_object_get(json_object_get(j, "params"), "w")) == 1);
    json_t *v = json_object_get(json_object_get(json_object_get(j, "state"), "velocity"), "w");
    assert_true(json_number_value(v) == 0.25);
    json_t *nf = json_object_get(j, "non_finite");
    assert_int_equal(json_integer_value(json_object_get(nf, "step")), 1);
    assert_string_equal(json_string_value(json_object_get(nf, "in")), "param");
    json_decref(j);
    gd_response_free(&res);
}

int main(void) {
    gd_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_go_to_the_callback_as_steps_complete),
        cmocka_unit_test(test_without_a_callback_every_line_is_in_the_body),
        cmocka_unit_test(test_an_error_after_the_first_line_is_the_last_line),
        cmocka_unit_test(test_an_error_before_any_line_keeps_its_status),
        cmocka_unit_test(test_a_deadline_keeps_the_completed_steps),
        cmocka_unit_test(test_a_deadline_before_any_step_counts_optimizer_steps),
        cmocka_unit_test(test_a_non_finite_step_is_not_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

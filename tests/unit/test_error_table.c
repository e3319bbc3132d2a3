/* test_error_table.c -- the error table (api/err.c) against itself,
 * libgrad's statuses and api/openapi.yaml.
 *
 * The table: rows are in gd_code order, codes are unique snake_case words,
 * each row has a status of the kind its group says and a meaning. Lib:
 * every libgrad error status maps to the row of the same name (lib's
 * gr_status_name) and that row names it back. OpenAPI: the codes the Error
 * schema lists (its code's oneOf consts) are exactly the table's answered
 * rows, each with the row's status as its x-status; and every error example
 * under a response of some status in paths (components followed through
 * $ref) has a code whose row has that status. gd_fail fills status and code
 * from the row, first error wins. The working directory is the repo root. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "err.h"
#include "openapi.h"

#define SPEC_PATH "api/openapi.yaml"

static json_t *spec; /* the description, loaded once */

static int load_spec(void **state) {
    (void)state;
    char err[256];
    spec = srv_openapi_load(SPEC_PATH, err, sizeof err);
    if (!spec) fprintf(stderr, "%s: %s (run from the repo root)\n", SPEC_PATH, err);
    return spec ? 0 : -1;
}

static int free_spec(void **state) {
    (void)state;
    json_decref(spec);
    spec = NULL;
    return 0;
}

/* The value at a local "#/a/b" reference (no escapes are used in ours). */
static json_t *at_ref(const char *ref) {
    if (strncmp(ref, "#/", 2) != 0) return NULL;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", ref + 2);
    json_t *v = spec;
    for (char *save = NULL, *tok = strtok_r(buf, "/", &save); tok && v; tok = strtok_r(NULL, "/", &save))
        v = json_object_get(v, tok);
    return v;
}

/* v with its $ref followed (a few levels at most). */
static json_t *deref(json_t *v) {
    for (int i = 0; i < 8 && v; i++) {
        const char *ref = json_string_value(json_object_get(v, "$ref"));
        if (!ref) return v;
        v = at_ref(ref);
    }
    return NULL;
}

/* The row whose code is code, or NULL. */
static const gd_error_row *row_named(const char *code) {
    for (int i = 0; i < GD_E_COUNT; i++)
        if (!strcmp(gd_error_row_of((gd_code)i)->code, code)) return gd_error_row_of((gd_code)i);
    return NULL;
}

static void test_rows(void **state) {
    (void)state;
    static const int statuses[] = {400, 401, 404, 405, 413, 414, 415, 422, 431, 500, 503, 504};
    for (int i = 0; i < GD_E_COUNT; i++) {
        const gd_error_row *row = gd_error_row_of((gd_code)i);
        if (row->id != (gd_code)i || !row->code || !row->meaning || !row->meaning[0])
            fail_msg("row %d is out of order or incomplete", i);
        for (const char *c = row->code; *c; c++)
            if (!((*c >= 'a' && *c <= 'z') || *c == '_')) fail_msg("code \"%s\" is not snake_case", row->code);
        int known = 0;
        for (size_t k = 0; k < sizeof statuses / sizeof *statuses; k++) known |= row->status == statuses[k];
        if (!known) fail_msg("%s has status %d, not one the service answers errors with", row->code, row->status);
        for (int j = 0; j < i; j++)
            if (!strcmp(gd_error_row_of((gd_code)j)->code, row->code)) fail_msg("code %s is in two rows", row->code);
    }
    assert_int_equal(gd_error_row_of(GD_E_COUNT)->id, GD_E_INTERNAL);
    assert_int_equal(gd_error_row_of((gd_code)-1)->id, GD_E_INTERNAL);
    assert_int_equal(gd_error_row_of(GD_E_INTERNAL)->status, 500);
    assert_int_equal(gd_error_row_of(GD_E_DEFERRED)->answered, 0);
}

static void test_lib_statuses(void **state) {
    (void)state;
    for (int s = GR_OK + 1; s < GR_STATUS_COUNT; s++) {
        const gd_error_row *row = gd_error_row_of(gd_lib_code((gr_status)s));
        if (strcmp(row->code, gr_status_name((gr_status)s)) || row->lib != (gr_status)s || !row->answered)
            fail_msg("lib status %d (%s) maps to row %s", s, gr_status_name((gr_status)s), row->code);
    }
    assert_int_equal(gd_lib_code(GR_OK), GD_E_INTERNAL);
    assert_int_equal(gd_lib_code((gr_status)GR_STATUS_COUNT), GD_E_INTERNAL);
    /* the statuses as they were before the table */
    assert_int_equal(gd_error_row_of(gd_lib_code(GR_E_LIMIT))->status, 413);
    assert_int_equal(gd_error_row_of(gd_lib_code(GR_E_OVERFLOW))->status, 413);
    assert_int_equal(gd_error_row_of(gd_lib_code(GR_E_NOMEM))->status, 413);
    assert_int_equal(gd_error_row_of(gd_lib_code(GR_E_CANCELLED))->status, 504);
    assert_int_equal(gd_error_row_of(gd_lib_code(GR_E_SHAPE))->status, 422);
    assert_int_equal(gd_error_row_of(gd_lib_code(GR_E_STATE))->status, 422);
}

static void test_openapi_codes_are_the_table(void **state) {
    (void)state;
    json_t *schemas = json_object_get(json_object_get(spec, "components"), "schemas");
    json_t *code = deref(json_object_get(json_object_get(deref(json_object_get(schemas, "Error")), "properties"), "code"));
    json_t *list = json_object_get(code, "oneOf");
    if (!json_is_array(list)) fail_msg("components/schemas/Error/properties/code has no oneOf list of codes");
    int seen[GD_E_COUNT] = {0}, bad = 0;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        const char *c = json_string_value(json_object_get(x, "const"));
        json_t *st = json_object_get(x, "x-status");
        const gd_error_row *row = c ? row_named(c) : NULL;
        if (!row || !row->answered) {
            printf("openapi.yaml lists code %s, which is no answered row of the error table\n", c ? c : "(none)");
            bad++;
        } else if (seen[row->id]++) {
            printf("openapi.yaml lists %s twice\n", c);
            bad++;
        } else if (!json_is_integer(st) || json_integer_value(st) != row->status) {
            printf("openapi.yaml gives %s x-status %lld; the table says %d\n", c,
                   json_is_integer(st) ? (long long)json_integer_value(st) : -1LL, row->status);
            bad++;
        } else if (!json_is_string(json_object_get(x, "description"))) {
            printf("openapi.yaml does not say what %s means\n", c);
            bad++;
        }
    }
    for (int k = 0; k < GD_E_COUNT; k++)
        if (gd_error_row_of((gd_code)k)->answered && !seen[k]) {
            printf("the error table's %s (%d) is missing from openapi.yaml\n", gd_error_row_of((gd_code)k)->code,
                   gd_error_row_of((gd_code)k)->status);
            bad++;
        }
    assert_int_equal(bad, 0);
}

/* Check the error examples of the responses object resp (status: code);
 * the count of those checked goes to *n, mismatches are printed. */
static int check_responses(json_t *responses, const char *where, int *n) {
    int bad = 0;
    const char *status;
    json_t *r;
    json_object_foreach(responses, status, r) {
        int want = atoi(status);
        json_t *examples = json_object_get(
            json_object_get(json_object_get(deref(r), "content"), "application/json"), "examples");
        const char *name;
        json_t *ex;
        json_object_foreach(examples, name, ex) {
            const char *c = json_string_value(json_object_get(json_object_get(deref(ex), "value"), "code"));
            if (!c || want < 400) continue;
            const gd_error_row *row = row_named(c);
            (*n)++;
            if (!row || row->status != want) {
                printf("%s %s example %s: code %s is %d in the error table\n", where, status, name, c,
                       row ? row->status : 0);
                bad++;
            }
        }
    }
    return bad;
}

static void test_openapi_examples_have_the_table_status(void **state) {
    (void)state;
    int bad = 0, n = 0;
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(spec, "paths"), path, item) {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op) bad += check_responses(json_object_get(op, "responses"), path, &n);
    }
    printf("%d error examples in openapi.yaml checked against the error table\n", n);
    assert_true(n > 10);
    assert_int_equal(bad, 0);
}

static void test_gd_fail(void **state) {
    (void)state;
    gd_err e;
    memset(&e, 0, sizeof e);
    assert_int_equal(gd_fail(&e, GD_E_BAD_BINARY, "/parameters", "%d bytes", 3), -1);
    assert_int_equal(e.status, 400);
    assert_int_equal(e.id, GD_E_BAD_BINARY);
    assert_string_equal(e.code, "bad_binary");
    assert_string_equal(e.path, "/parameters");
    assert_string_equal(e.message, "3 bytes");
    gd_fail(&e, GD_E_CYCLE, NULL, "later"); /* first error wins */
    assert_string_equal(e.code, "bad_binary");
    memset(&e, 0, sizeof e);
    gd_fail(&e, gd_lib_code(GR_E_NOMEM), NULL, "x");
    assert_int_equal(e.status, 413);
    assert_string_equal(e.code, "out_of_memory");
    assert_string_equal(e.path, "");
    assert_int_equal(gd_fail(NULL, GD_E_CYCLE, "", "no e"), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows),
        cmocka_unit_test(test_lib_statuses),
        cmocka_unit_test(test_openapi_codes_are_the_table),
        cmocka_unit_test(test_openapi_examples_have_the_table_status),
        cmocka_unit_test(test_gd_fail),
    };
    return cmocka_run_group_tests_name("error_table", tests, load_spec, free_spec);
}

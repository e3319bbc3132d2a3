/* test_api_cases.c -- the API's golden cases, one folder each under
 * tests/api/cases/<case>/:
 *   route          the route name (forward, gradient, ...)
 *   request.json   the body
 *   response.json  the expected 200 body (its "stats" are not compared), or
 *   error.json     {"status": N, "code": "...", "path": "...",
 *                   "message_contains": "..." (optional)}
 * Numbers compare exactly, except where response.json has a top-level
 * "tolerance": {"abs": a} (then |got - want| <= a). Adding a case adds no
 * code. Expected values come from the seeds' hand computations and the
 * API's specification, never from running gradd. */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "testutil.h"

#define CASES "tests/api/cases"

static char *read_file(const char *dir, const char *name, size_t *len) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    if (buf) buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

/* Structural equality; numbers within tol; "NaN" strings equal. Writes the
 * first difference's path into where. */
static int same(const json_t *want, const json_t *got, double tol, char *where, size_t cap) {
    if (json_is_number(want) && json_is_number(got)) {
        double a = json_number_value(want), b = json_number_value(got);
        if (a == b || fabs(a - b) <= tol) return 1;
        snprintf(where + strlen(where), cap - strlen(where), " (want %.17g, got %.17g)", a, b);
        return 0;
    }
    if (json_typeof(want) != json_typeof(got)) {
        snprintf(where + strlen(where), cap - strlen(where), " (types differ)");
        return 0;
    }
    if (json_is_array(want)) {
        if (json_array_size(want) != json_array_size(got)) {
            snprintf(where + strlen(where), cap - strlen(where), " (lengths %zu vs %zu)", json_array_size(want),
                     json_array_size(got));
            return 0;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            size_t at = strlen(where);
            snprintf(where + at, cap - at, "/%zu", i);
            if (!same(json_array_get(want, i), json_array_get(got, i), tol, where, cap)) return 0;
            where[at] = '\0';
        }
        return 1;
    }
    if (json_is_object(want)) {
        const char *k;
        json_t *v;
        if (json_object_size(want) != json_object_size(got)) {
            snprintf(where + strlen(where), cap - strlen(where), " (key counts %zu vs %zu)", json_object_size(want),
                     json_object_size(got));
            return 0;
        }
        json_object_foreach((json_t *)want, k, v) {
            size_t at = strlen(where);
            snprintf(where + at, cap - at, "/%s", k);
            json_t *g = json_object_get(got, k);
            if (!g || !same(v, g, tol, where, cap)) return 0;
            where[at] = '\0';
        }
        return 1;
    }
    return json_equal(want, got);
}

static int run_case(const char *name) {
    char dir[512];
    size_t rlen, blen, elen;
    snprintf(dir, sizeof dir, "%s/%s", CASES, name);
    char *route = read_file(dir, "route", &rlen), *body = read_file(dir, "request.json", &blen);
    char *expect = read_file(dir, "response.json", &elen);
    int is_error = 0;
    if (!expect) {
        expect = read_file(dir, "error.json", &elen);
        is_error = 1;
    }
    int ok = 0;
    if (!route || !body || !expect) {
        printf("case %s: needs route, request.json and response.json or error.json\n", name);
        goto out;
    }
    route[strcspn(route, " \n")] = '\0';
    gd_response res;
    gd_handle(route, body, blen, NULL, &res);
    json_error_t je;
    json_t *got = json_loadb(res.body, res.len, JSON_REJECT_DUPLICATES, &je), *want = json_loadb(expect, elen, 0, &je);
    if (!got || !want) {
        printf("case %s: unparsable %s\n", name, got ? "expectation" : "response");
    } else if (is_error) {
        const json_t *st = json_object_get(want, "status"), *mc = json_object_get(want, "message_contains");
        const char *code = json_string_value(json_object_get(got, "code")), *path = json_string_value(json_object_get(got, "path"));
        const char *msg = json_string_value(json_object_get(got, "error"));
        ok = res.status == json_integer_value(st) && code && path && msg &&
             !strcmp(code, json_string_value(json_object_get(want, "code"))) &&
             !strcmp(path, json_string_value(json_object_get(want, "path"))) && json_object_size(got) == 3 &&
             (!mc || strstr(msg, json_string_value(mc)));
        if (!ok) printf("case %s: got %d %.*s\n", name, res.status, (int)res.len, res.body);
    } else {
        double tol = json_number_value(json_object_get(json_object_get(want, "tolerance"), "abs"));
        json_object_del(want, "tolerance");
        json_object_del(got, "stats");
        char where[1024] = "";
        ok = res.status == 200 && same(want, got, tol, where, sizeof where);
        if (!ok) printf("case %s: status %d, differs at %s: %.*s\n", name, res.status, where, (int)(res.len > 600 ? 600 : res.len), res.body);
    }
    json_decref(got);
    json_decref(want);
    gd_response_free(&res);
out:
    free(route);
    free(body);
    free(expect);
    return ok;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void test_cases(void **state) {
    (void)state;
    DIR *d = opendir(CASES);
    assert_non_null(d);
    char *names[4096];
    int n = 0, failed = 0, errors = 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < 4096)
        if (de->d_name[0] != '.') names[n++] = strdup(de->d_name);
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char probe[1024];
        snprintf(probe, sizeof probe, "%s/%s/error.json", CASES, names[i]);
        FILE *f = fopen(probe, "r");
        if (f) {
            errors++;
            fclose(f);
        }
        if (!run_case(names[i])) failed++;
        free(names[i]);
    }
    printf("# %d golden cases (%d invalid requests), %d failed\n", n, errors, failed);
    assert_int_equal(failed, 0);
    assert_true(n >= 1);
}

int main(void) {
    gd_init();
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_cases)};
    return cmocka_run_group_tests_name("api_cases", tests, NULL, NULL);
}

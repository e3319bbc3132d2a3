/* test_route_specs.c -- the route specs (api/spec.c) and the cache key
 * agree: changing a field a spec marks as shaping the program gives a
 * request a new key (a cache miss), and changing a field it marks as a
 * run-time value keeps the key (a hit, with the new values answered).
 * Every field of every caching route must have a row below, so a field
 * added to a spec without a row here fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "api.h"
#include "cache.h"
#include "spec.h"

/* One field change: the route's base request, and the same request with
 * only the field changed. */
typedef struct change {
    const char *route, *field;
    const char *base, *changed;
} change;

#define SHORT_GD "\"graph\":\"sum(w*x+b)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4],\"b\":[5,6]}"
#define SHORT_F "\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]}"
/* An ONNX model (float64): BatchNormalization in training mode over x
 * [2, 1, 2] with params s, b and buffers m, v (running mean and var). */
#define BN_ONNX                                                                                                       \
    "CAg65wEKYwoBeAoBcwoBYgoBbQoBdhIBeSISQmF0Y2hOb3JtYWxpemF0aW9uKhEKB2Vwc2lsb24VrMUnN6ABASoSCghtb21lbnR1bRVmZmY/"     \
    "oAEBKhQKDXRyYWluaW5nX21vZGUYAaABAhICYm4qEQgBEAtCAXNKCAAAAAAAAPA/KhEIARALQgFiSggAAAAAAADwPyoRCAEQC0IBbUoIAAAAAAA" \
    "AAAAqEQgBEAtCAXZKCAAAAAAAAPA/WhcKAXgSEgoQCAsSDAoCCAIKAggBCgIIAmIXCgF5EhIKEAgLEgwKAggCCgIIAQoCCAJCBAoAEA8="
#define BN_STEP "\"graph\":{\"onnx\":\"" BN_ONNX "\",\"loss\":\"sum(y*y*x)\"},\"inputs\":{\"x\":[[[1,2]],[[4,3]]]}"

static const change changes[] = {
    /* forward */
    {"forward", "graph", "{" SHORT_F "}", "{\"graph\":\"sum(w+x)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]}}"},
    {"forward", "dtype", "{" SHORT_F "}", "{" SHORT_F ",\"dtype\":\"float32\"}"},
    {"forward", "inputs", "{" SHORT_F "}", "{\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[7,8]},\"params\":{\"w\":[3,4]}}"},
    {"forward", "params", "{" SHORT_F "}", "{\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[9,4]}}"},
    {"forward", "encoding", "{" SHORT_F "}", "{" SHORT_F ",\"encoding\":\"b64\"}"},
    {"forward", "binary_data_output", "{" SHORT_F "}", "{" SHORT_F ",\"binary_data_output\":true}"},
    {"forward", "outputs", "{" SHORT_F ",\"outputs\":[\"f\"]}", "{" SHORT_F ",\"outputs\":[\"w\"]}"},
    /* gradient */
    {"gradient", "graph", "{" SHORT_F "}", "{\"graph\":\"sum(w+x)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]}}"},
    {"gradient", "dtype", "{" SHORT_F "}", "{" SHORT_F ",\"dtype\":\"float32\"}"},
    {"gradient", "inputs", "{" SHORT_F "}", "{\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[7,8]},\"params\":{\"w\":[3,4]}}"},
    {"gradient", "params", "{" SHORT_F "}", "{\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[9,4]}}"},
    {"gradient", "encoding", "{" SHORT_F "}", "{" SHORT_F ",\"encoding\":\"flat\"}"},
    {"gradient", "binary_data_output", "{" SHORT_F "}", "{" SHORT_F ",\"binary_data_output\":true}"},
    {"gradient", "wrt", "{" SHORT_GD ",\"wrt\":[\"w\"]}", "{" SHORT_GD ",\"wrt\":[\"b\"]}"},
    {"gradient", "outputs", "{" SHORT_F ",\"outputs\":[\"x\"]}", "{" SHORT_F ",\"outputs\":[\"w\"]}"},
    {"gradient", "trace", "{" SHORT_F "}", "{" SHORT_F ",\"trace\":true}"},
    /* step */
    {"step", "graph", "{" SHORT_F "}", "{\"graph\":\"sum(w+x)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[3,4]}}"},
    {"step", "dtype", "{" SHORT_F "}", "{" SHORT_F ",\"dtype\":\"float32\"}"},
    {"step", "inputs", "{" SHORT_F "}", "{\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[7,8]},\"params\":{\"w\":[3,4]}}"},
    {"step", "params", "{" SHORT_F "}", "{\"graph\":\"sum(w*x)\",\"inputs\":{\"x\":[1,2]},\"params\":{\"w\":[9,4]}}"},
    {"step", "encoding", "{" SHORT_F "}", "{" SHORT_F ",\"encoding\":\"flat\"}"},
    {"step", "binary_data_output", "{" SHORT_F "}", "{" SHORT_F ",\"binary_data_output\":true}"},
    {"step", "wrt", "{" SHORT_GD ",\"wrt\":[\"w\"]}", "{" SHORT_GD ",\"wrt\":[\"b\"]}"},
    {"step", "optimizer", "{" SHORT_F "}", "{" SHORT_F ",\"optimizer\":{\"name\":\"adam\",\"lr\":0.5}}"},
    {"step", "state", "{" SHORT_F ",\"optimizer\":{\"momentum\":0.9}}",
     "{" SHORT_F ",\"optimizer\":{\"momentum\":0.9},\"state\":{\"velocity\":{\"w\":[1,1]}}}"},
    {"step", "steps", "{" SHORT_F "}", "{" SHORT_F ",\"steps\":3}"},
    {"step", "return_gradients", "{" SHORT_F "}", "{" SHORT_F ",\"return_gradients\":true}"},
    {"step", "stream", "{" SHORT_F "}", "{" SHORT_F ",\"stream\":true}"},
    {"step", "report_every", "{" SHORT_F ",\"stream\":true,\"steps\":4}", "{" SHORT_F ",\"stream\":true,\"steps\":4,\"report_every\":2}"},
    {"step", "on_non_finite", "{" SHORT_F "}", "{" SHORT_F ",\"on_non_finite\":\"continue\"}"},
    {"step", "buffers", "{" BN_STEP "}", "{" BN_STEP ",\"buffers\":{\"m\":[0.5],\"v\":[2]}}"},
    {"step", "export", "{" BN_STEP "}", "{" BN_STEP ",\"export\":\"onnx\"}"},
    /* batches: a request with batches keeps no program (each batch may
     * reshape the graph), so its row is the one with no cache use */
    {"step", "batches", NULL, NULL},
};
#define NCHANGES (sizeof changes / sizeof changes[0])

static const change *find_change(const char *route, const char *field) {
    for (size_t i = 0; i < NCHANGES; i++)
        if (!strcmp(changes[i].route, route) && !strcmp(changes[i].field, field)) return &changes[i];
    return NULL;
}

/* Send body to route through cache; returns the status. */
static int send(const char *route, const char *body, gd_cache *cache) {
    gd_call c = {.route = route, .body = body, .len = strlen(body), .cache = cache};
    gd_response res;
    gd_handle_call(&c, &res);
    int status = res.status;
    if (status != 200) printf("# /v1/%s %s -> %d %s\n", route, body, status, res.body);
    gd_response_free(&res);
    return status;
}

static void test_every_field_of_every_caching_route_has_a_row(void **state) {
    (void)state;
    int missing = 0;
    for (int i = 0; i < gd_route_count(); i++) {
        const gd_route_spec *s = gd_route_spec_at(i);
        for (int k = 0; s->cached && k < s->nfields; k++)
            if (!find_change(s->name, s->fields[k].name)) {
                printf("# no row for /v1/%s field \"%s\"\n", s->name, s->fields[k].name);
                missing++;
            }
    }
    assert_int_equal(missing, 0);
}

/* A program-shaping change misses the cache; a value change hits it. */
static void test_shaping_fields_change_the_key(void **state) {
    (void)state;
    int checked = 0, shaping = 0;
    for (size_t i = 0; i < NCHANGES; i++) {
        const change *c = &changes[i];
        const gd_field_spec *f = gd_route_field(gd_route_spec_find(c->route), c->field);
        assert_non_null(f);
        if (!c->base) continue;
        gd_cache *cache = gd_cache_new(16, 1 << 30);
        unsigned long long h0, m0, h1, m1;
        assert_int_equal(send(c->route, c->base, cache), 200);
        gd_cache_stats(cache, &h0, &m0);
        assert_int_equal(send(c->route, c->changed, cache), 200);
        gd_cache_stats(cache, &h1, &m1);
        int missed = m1 == m0 + 1 && h1 == h0;
        if (missed != f->shapes_program) {
            printf("# /v1/%s \"%s\": the spec says it %s the program, but a change %s the cache\n", c->route, c->field,
                   f->shapes_program ? "shapes" : "does not shape", missed ? "missed" : "hit");
            fail();
        }
        shaping += f->shapes_program;
        checked++;
        gd_cache_free(cache);
    }
    printf("# %d field changes over the caching routes: %d shape the program (a miss), %d are values (a hit)\n",
           checked, shaping, checked - shaping);
}

int main(void) {
    gd_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_field_of_every_caching_route_has_a_row),
        cmocka_unit_test(test_shaping_fields_change_the_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

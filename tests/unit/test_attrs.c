/* test_attrs.c -- the attribute table (lib/attr.c), its range rule, the one
 * reader of both graph forms and the one writer (api/attrs.c): every row's
 * default reads back, every row round-trips reader -> lib -> writer ->
 * reader, both forms give the same error row for the same bad value, and a
 * string attribute (a test-only row: no op takes one yet) round-trips
 * through both readers and the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "attrs.h"
#include "expr.h"
#include "grad.h"

/* A string attribute of any value 1 to 16 bytes long, no op of the table
 * takes: stored in gr_attrs.reduction, marked with the first bit past the
 * table's. */
static const gr_attr_def string_row = {"mode", GR_ATTR_STRING, GR_ATTR_COUNT, offsetof(gr_attrs, reduction), 0, 0,
                                       1, 16, "\"mean\"", "a string without choices (test row)", NULL};

/* Read JSON text through the reader for row d of op "sum". */
static int read_json_text(const gr_attr_def *d, const char *text, gr_attr_value *v, gd_attr_error *e) {
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    /* an integer beyond int64 is a real, as the service's JSON reader makes it */
    if (!j) j = json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    assert_non_null(j);
    gd_attr_src src = {.json = j};
    int rc = gd_attr_read(gr_op_find("sum"), d, &src, v, e);
    json_decref(j);
    return rc;
}

/* Read an expression literal (one token, or a list when text starts with
 * '[') through the reader for row d. */
static int read_lit_text(const gr_attr_def *d, const char *text, gr_attr_value *v, gd_attr_error *e) {
    gd_attr_lit l;
    memset(&l, 0, sizeof l);
    l.src = text;
    l.pos = 0;
    l.end = strlen(text);
    if (text[0] == '[') { /* entries split at commas, for the simple lists used here */
        l.list = 1;
        l.end = 1;
        size_t i = 1, n = strlen(text);
        while (i < n && text[i] != ']') {
            size_t s = i;
            while (i < n && text[i] != ',' && text[i] != ']') i++;
            if (l.n <= GR_MAX_RANK) {
                l.entry_pos[l.n] = s;
                l.entry_end[l.n] = i;
            }
            l.n++;
            if (text[i] == ',') i++;
        }
    }
    gd_attr_src src = {.lit = &l};
    return gd_attr_read(gr_op_find("sum"), d, &src, v, e);
}

/* What the writer makes of v, as a malloc'ed string. */
static char *written(const gr_attr_value *v) {
    cd_buf b = {0};
    gd_attr_write(&b, v);
    size_t n;
    char *s = cd_buf_take(&b, &n);
    assert_non_null(s);
    return s;
}

/* v read from JSON, stored in gr_attrs, loaded, written, read again: the
 * same value. */
static void round_trip(const gr_attr_def *d, const gr_attr_value *v) {
    gr_attrs a;
    memset(&a, 0, sizeof a);
    gr_error ge;
    assert_int_equal(gr_attrs_put(&a, d, v, &ge), GR_OK);
    gr_attr_value back, again;
    assert_int_equal(gr_attrs_get(&a, d, &back), 1);
    assert_memory_equal(&back, v, sizeof back);
    char *text = written(&back);
    gd_attr_error e;
    if (read_json_text(d, text, &again, &e) < 0) fail_msg("%s: '%s' does not read back: %s", d->name, text, e.message);
    assert_memory_equal(&again, v, sizeof again);
    free(text);
}

static void test_every_row(void **state) {
    (void)state;
    for (int id = 0; id < GR_ATTR_COUNT; id++) {
        const gr_attr_def *d = gr_attr_def_of((gr_attr_id)id);
        assert_non_null(d);
        assert_int_equal(d->id, id);
        assert_int_equal(gr_attr_lookup(d->name), id);
        assert_non_null(d->doc);
        assert_true(d->min <= d->max);
        gr_attr_value v;
        gd_attr_error e;
        /* the default is a valid value of the row */
        if (d->def && read_json_text(d, d->def, &v, &e) < 0) fail_msg("%s's default: %s", d->name, e.message);
        /* the ends of the range round-trip; one past them is refused as out of range */
        memset(&v, 0, sizeof v);
        v.type = d->type;
        switch (d->type) {
        case GR_ATTR_INT:
            v.i = d->min;
            round_trip(d, &v);
            v.i = d->max;
            round_trip(d, &v);
            if (d->min > INT64_MIN) {
                v.i = d->min - 1;
                gr_error ge;
                assert_int_equal(gr_attr_check(d, &v, &ge), GR_E_ARG);
                assert_string_equal(ge.attr, d->name);
            }
            break;
        case GR_ATTR_INTS:
            v.n = GR_MAX_RANK;
            for (int k = 0; k < v.n; k++) v.ints[k] = k % 2 ? d->max : d->min;
            round_trip(d, &v);
            memset(v.ints, 0, sizeof v.ints);
            v.n = 0;
            round_trip(d, &v);
            break;
        case GR_ATTR_BOOL:
            v.i = 1;
            round_trip(d, &v);
            v.i = 0;
            round_trip(d, &v);
            break;
        case GR_ATTR_NUMBER:
            v.f = -0.125;
            round_trip(d, &v);
            break;
        case GR_ATTR_STRING:
            for (int i = 0; d->choices && d->choices[i]; i++) {
                memset(v.str, 0, sizeof v.str); /* a shorter value must not keep a longer one's tail */
                snprintf(v.str, sizeof v.str, "%s", d->choices[i]);
                round_trip(d, &v);
            }
            break;
        }
        /* the catalogue row is JSON with the table's range */
        cd_buf b = {0};
        gd_attr_write_info(&b, d, 0);
        size_t n;
        char *text = cd_buf_take(&b, &n);
        json_t *info = json_loads(text, 0, NULL);
        if (!info) fail_msg("%s's catalogue entry is not JSON: %s", d->name, text);
        assert_string_equal(json_string_value(json_object_get(info, "type")), gr_attr_type_name(d->type));
        if (d->type == GR_ATTR_INT || d->type == GR_ATTR_INTS) {
            assert_int_equal(json_integer_value(json_object_get(info, "minimum")), d->min);
            assert_int_equal(json_integer_value(json_object_get(info, "maximum")), d->max);
        }
        json_decref(info);
        free(text);
    }
}

/* The same bad value in both spellings: the same error row. */
static void test_both_forms_agree(void **state) {
    (void)state;
    static const struct {
        gr_attr_id id;
        const char *json, *lit;
        gd_code want;
    } cases[] = {
        {GR_ATTR_AXIS, "5000", "5000", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_AXIS, "-9", "-9", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_AXIS, "4294967296", "4294967296", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_AXIS, "100000000000000000000", "100000000000000000000", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_AXIS, "1.5", "1.5", GD_E_INVALID_REQUEST},
        {GR_ATTR_AXIS, "[1]", "[1]", GD_E_INVALID_REQUEST},
        {GR_ATTR_AXIS, "\"a\"", "'a'", GD_E_INVALID_REQUEST},
        {GR_ATTR_KEEPDIMS, "\"yes\"", "yes", GD_E_INVALID_REQUEST},
        {GR_ATTR_KEEPDIMS, "2", "2", GD_E_INVALID_REQUEST},
        {GR_ATTR_AXES, "[0, 5000]", "[0,5000]", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_AXES, "[0, 1.5]", "[0,1.5]", GD_E_INVALID_REQUEST},
        {GR_ATTR_AXES, "[0,1,2,3,4,5,6,7,0]", "[0,1,2,3,4,5,6,7,0]", GD_E_INVALID_REQUEST},
        {GR_ATTR_AXES, "1", "1", GD_E_INVALID_REQUEST},
        {GR_ATTR_SHAPE, "[2, -2]", "[2,-2]", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_PERM, "[0, 8]", "[0,8]", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_NUM_CLASSES, "-1", "-1", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_VALUE, "true", "true", GD_E_INVALID_REQUEST},
        {GR_ATTR_REDUCTION, "\"avg\"", "'avg'", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_REDUCTION, "\"\"", "''", GD_E_INVALID_ARGUMENT},
        {GR_ATTR_REDUCTION, "3", "3", GD_E_INVALID_REQUEST},
        {GR_ATTR_REDUCTION, "[\"sum\"]", "['sum']", GD_E_INVALID_REQUEST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const gr_attr_def *d = gr_attr_def_of(cases[i].id);
        gr_attr_value v;
        gd_attr_error ej, el;
        if (read_json_text(d, cases[i].json, &v, &ej) == 0) fail_msg("%s=%s read from JSON", d->name, cases[i].json);
        if (read_lit_text(d, cases[i].lit, &v, &el) == 0)
            fail_msg("%s=%s read from an expression", d->name, cases[i].lit);
        if (ej.code != cases[i].want || el.code != cases[i].want)
            fail_msg("%s=%s: JSON gives %s (%s), the expression %s (%s); want %s", d->name, cases[i].json,
                     gd_error_row_of(ej.code)->code, ej.message, gd_error_row_of(el.code)->code, el.message,
                     gd_error_row_of(cases[i].want)->code);
    }
}

/* The expression parser hands attribute errors on with the reader's row. */
static void test_expression_rows(void **state) {
    (void)state;
    static const struct {
        const char *src;
        gd_code want;
    } cases[] = {
        {"sum(x, axis=5000)", GD_E_INVALID_ARGUMENT},
        {"sum(x, axis=1.5)", GD_E_INVALID_REQUEST},
        {"sum(x, axes=[0, 9])", GD_E_INVALID_ARGUMENT},
        {"sum(x, axs=1)", GD_E_UNKNOWN_ATTRIBUTE},
        {"sin(x, axis=0)", GD_E_UNKNOWN_ATTRIBUTE},
        {"one_hot(y, num_classes=-1)", GD_E_INVALID_ARGUMENT},
        {"cross_entropy(l, y, reduction='avg')", GD_E_INVALID_ARGUMENT},
        {"cross_entropy(l, y, reduction=sum)", GD_E_INVALID_REQUEST},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gd_expr e;
        gd_expr_error err;
        assert_int_equal(gd_expr_parse(cases[i].src, strlen(cases[i].src), NULL, &e, &err), -1);
        if (err.fault != GD_EXPR_ATTR || err.code != cases[i].want)
            fail_msg("'%s': fault %d, row %s (%s)", cases[i].src, err.fault, gd_error_row_of(err.code)->code,
                     err.message);
    }
}

/* A string attribute through the JSON reader, the expression reader, lib's
 * store and the writer; and its range. */
static void test_string_row(void **state) {
    (void)state;
    const gr_attr_def *d = &string_row;
    gr_attr_value vj, vl;
    gd_attr_error e;
    assert_int_equal(read_json_text(d, "\"sum\"", &vj, &e), 0);
    assert_int_equal(vj.type, GR_ATTR_STRING);
    assert_string_equal(vj.str, "sum");
    assert_int_equal(read_lit_text(d, "'sum'", &vl, &e), 0);
    assert_memory_equal(&vj, &vl, sizeof vj);
    assert_int_equal(read_lit_text(d, "\"sum\"", &vl, &e), 0);
    assert_memory_equal(&vj, &vl, sizeof vj);
    round_trip(d, &vj);
    /* stored in gr_attrs.str under the row's bit, next to the table's attributes */
    gr_attrs a;
    memset(&a, 0, sizeof a);
    gr_attrs_set_int(&a, GR_ATTR_AXIS, 1);
    assert_int_equal(gr_attrs_put(&a, d, &vj, NULL), GR_OK);
    assert_string_equal(a.reduction, "sum");
    assert_int_equal(a.set, GR_ATTR_BIT(GR_ATTR_AXIS) | GR_ATTR_BIT(GR_ATTR_COUNT));
    assert_int_equal(gr_attrs_check(&a, NULL), GR_OK);
    char *text = written(&vj);
    assert_string_equal(text, "\"sum\"");
    free(text);
    /* the default reads */
    assert_int_equal(read_json_text(d, d->def, &vj, &e), 0);
    assert_string_equal(vj.str, "mean");
    /* range: 1 to 16 bytes by the row, under GR_ATTR_STR_MAX by the type */
    static const char *const too[][2] = {{"\"\"", "''"},
                                         {"\"seventeen_bytes__\"", "'seventeen_bytes__'"},
                                         {"\"a string of forty bytes, far too long...\"",
                                          "'a string of forty bytes, far too long...'"}};
    for (size_t i = 0; i < sizeof too / sizeof too[0]; i++) {
        assert_int_equal(read_json_text(d, too[i][0], &vj, &e), -1);
        assert_int_equal(e.code, GD_E_INVALID_ARGUMENT);
        assert_non_null(strstr(e.message, "'mode'"));
        assert_int_equal(read_lit_text(d, too[i][1], &vl, &e), -1);
        assert_int_equal(e.code, GD_E_INVALID_ARGUMENT);
    }
    /* type: a number, a bare name, an unquoted list are not strings */
    assert_int_equal(read_json_text(d, "3", &vj, &e), -1);
    assert_int_equal(e.code, GD_E_INVALID_REQUEST);
    assert_non_null(strstr(e.message, "takes a string"));
    assert_int_equal(read_lit_text(d, "mean", &vl, &e), -1);
    assert_int_equal(e.code, GD_E_INVALID_REQUEST);
    assert_int_equal(read_lit_text(d, "[1]", &vl, &e), -1);
    assert_int_equal(e.code, GD_E_INVALID_REQUEST);
}

/* lib refuses out-of-range attributes whoever builds the node. */
static void test_graph_applies_the_range_rule(void **state) {
    (void)state;
    gr_error err;
    gr_graph *g = gr_graph_new(GR_F64, NULL);
    gr_shape s = {.rank = 2, .dims = {2, 3}};
    assert_true(gr_graph_input(g, "x", &s, &err) >= 0);
    gr_attrs at;
    memset(&at, 0, sizeof at);
    gr_attrs_set_int(&at, GR_ATTR_AXIS, 4294967296LL); /* saturates in the int field; still refused */
    assert_int_equal(gr_graph_node(g, "s", gr_op_find("softmax"), (const char *[]){"x"}, 1, &at, &err), -1);
    assert_int_equal(err.code, GR_E_ARG);
    assert_string_equal(err.node, "s");
    assert_string_equal(err.attr, "axis");
    gr_attrs_set_int(&at, GR_ATTR_AXIS, -1);
    assert_true(gr_graph_node(g, "s", gr_op_find("softmax"), (const char *[]){"x"}, 1, &at, &err) >= 0);
    gr_graph_free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_row),
        cmocka_unit_test(test_both_forms_agree),
        cmocka_unit_test(test_expression_rows),
        cmocka_unit_test(test_string_row),
        cmocka_unit_test(test_graph_applies_the_range_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

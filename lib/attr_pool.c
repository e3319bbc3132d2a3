/* attr_pool.c -- a graph's attribute sets, each distinct one kept once.
 * A gr_attrs holds a field for every attribute of the table (over a
 * kilobyte); a node points at the graph's copy of its set instead of
 * holding one, and the nodes of a model share a handful of sets (every
 * sum over axis -1, every conv with padding 1). A set is copied
 * canonically, only the attributes it sets and zeros elsewhere, so equal
 * sets are equal bytes, found through a hash of them. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

const gr_attrs gr_attrs_none;

/* a's attributes, nothing else, into *out. */
static void canonical(const gr_attrs *a, gr_attrs *out) {
    memset(out, 0, sizeof *out);
    for (int id = 0; id < GR_ATTR_COUNT; id++) {
        gr_attr_value v;
        const gr_attr_def *d = gr_attr_def_of((gr_attr_id)id);
        if (gr_attrs_get(a, d, &v)) gr_attrs_put(out, d, &v, NULL);
    }
    out->set = a->set; /* bits past the table (none today) as given */
}

static uint64_t hash_bytes(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* Room for one more set and its index entry; 0 when out of memory. */
static int pool_grow(gr_graph *g) {
    if (g->attr_n == g->attr_cap) {
        int cap = g->attr_cap ? g->attr_cap * 2 : 16;
        gr_attrs **s = realloc(g->attr_sets, (size_t)cap * sizeof *s);
        if (!s) return 0;
        g->attr_sets = s;
        g->attr_cap = cap;
    }
    if ((size_t)(g->attr_n + 1) * 2 <= g->attr_hcap) return 1;
    size_t hcap = g->attr_hcap ? g->attr_hcap * 2 : 32;
    int *t = malloc(hcap * sizeof *t);
    if (!t) return 0;
    for (size_t i = 0; i < hcap; i++) t[i] = -1;
    for (int k = 0; k < g->attr_n; k++) {
        size_t i = hash_bytes(g->attr_sets[k], sizeof(gr_attrs)) & (hcap - 1);
        while (t[i] >= 0) i = (i + 1) & (hcap - 1);
        t[i] = k;
    }
    free(g->attr_htab);
    g->attr_htab = t;
    g->attr_hcap = hcap;
    return 1;
}

const gr_attrs *gr_attrs_intern(gr_graph *g, const gr_attrs *a, gr_error *err) {
    if (!a || !a->set) return &gr_attrs_none;
    gr_attrs c;
    canonical(a, &c);
    uint64_t h = hash_bytes(&c, sizeof c);
    if (g->attr_hcap) {
        for (size_t i = h & (g->attr_hcap - 1); g->attr_htab[i] >= 0; i = (i + 1) & (g->attr_hcap - 1))
            if (!memcmp(g->attr_sets[g->attr_htab[i]], &c, sizeof c)) return g->attr_sets[g->attr_htab[i]];
    }
    gr_attrs *copy = malloc(sizeof *copy);
    if (!copy || !pool_grow(g)) {
        free(copy);
        gr_fail(err, GR_E_NOMEM, NULL, -1, "out of memory keeping a node's attributes");
        return NULL;
    }
    *copy = c;
    size_t i = h & (g->attr_hcap - 1);
    while (g->attr_htab[i] >= 0) i = (i + 1) & (g->attr_hcap - 1);
    g->attr_htab[i] = g->attr_n;
    g->attr_sets[g->attr_n++] = copy;
    return copy;
}

int64_t gr_attr_pool_bytes(const gr_graph *g) {
    return (int64_t)g->attr_n * (int64_t)sizeof(gr_attrs) + (int64_t)g->attr_cap * (int64_t)sizeof(gr_attrs *) +
           (int64_t)g->attr_hcap * (int64_t)sizeof(int);
}

void gr_attr_pool_free(gr_graph *g) {
    for (int k = 0; k < g->attr_n; k++) free(g->attr_sets[k]);
    free(g->attr_sets);
    free(g->attr_htab);
    g->attr_sets = NULL;
    g->attr_htab = NULL;
    g->attr_n = g->attr_cap = 0;
    g->attr_hcap = 0;
}

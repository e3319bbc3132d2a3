/* shapes.c -- POST /v1/shapes: the shape of every value and node the
 * request names, from shape inference alone: nothing is compiled or run.
 * What a client asks before sending a batch of another size, and what the
 * playground shows beside each node. */
#include "routes.h"

int gd_route_shapes(gd_req *r, cd_buf *b, gd_timing *t) {
    int ids_buf[GD_MAX_LIST];
    const char *names_buf[GD_MAX_LIST];
    double t0 = gd_now_ms();
    cd_buf_puts(b, "{\"shapes\":{");
    int n = 0;
    if (r->args.outputs.given) { /* just these */
        n = gd_outputs(r, ids_buf, names_buf, GD_MAX_LIST);
        if (n < 0) return -1;
        for (int i = 0; i < n; i++) {
            cd_buf_key(b, names_buf[i], i == 0);
            gd_put_dims(b, gr_node_shape(r->g, ids_buf[i]));
        }
    } else { /* the leaves, then the nodes the graph names, in their order */
        for (int i = 0; i < r->nleaves; i++, n++) {
            cd_buf_key(b, r->leaves[i].name, n == 0);
            gd_put_dims(b, gr_node_shape(r->g, r->leaves[i].node));
        }
        for (int i = 0; i < r->nnamed; i++, n++) {
            char buf[32];
            cd_buf_key(b, gr_node_name(r->g, r->named[i], buf, sizeof buf), n == 0);
            gd_put_dims(b, gr_node_shape(r->g, r->named[i]));
        }
    }
    cd_buf_putc(b, '}');
    t->encode_ms += gd_now_ms() - t0;
    gd_put_stats(b, r, NULL, t);
    return 0;
}

/* fuzz_onnx.c -- libFuzzer harness for the ONNX reader and lowering: one
 * input is one model's bytes, sent as {"graph": {"onnx": <base64>},
 * "inputs": {...}} to forward under tight limits. An input that starts
 * with '{' is a whole request instead (the seeds: the golden cases, among
 * them the onnx-* ones, whose models the fuzzer then mutates inside their
 * base64).
 *
 * The model's graph inputs get values without knowing them: the request
 * carries "inputs" for the names x, input, input.1 and data, shaped [2, 3]
 * (the rest answer 422 missing_value, which is fine).
 *
 * Invariants (a failure aborts with the response on stderr): the answer is
 * one of 200, 400, 413, 422, 504, never a 500 (internal); the body is
 * NUL-terminated JSON of exactly len bytes; a 400 is about the model (at
 * /graph...), the inputs it lacks or the outputs it does not name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "codec/b64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static gd_limits lim;
static int ready;

static void init(void) {
    gd_init();
    lim = gd_limits_default();
    lim.max_body_bytes = 1 << 20;
    lim.max_nodes = 2000;
    lim.max_elements = 1 << 12;
    lim.max_total_bytes = 32 << 20;
    lim.max_tree_bytes = 16 << 20;
    ready = 1;
}

static void check(const gd_response *r, const char *what) {
    int ok = r->status == 200 || r->status == 400 || r->status == 413 || r->status == 422 || r->status == 504 ||
             (r->status == 404 && r->body && strstr(r->body, "\"code\":\"graph_not_found\"")); /* a ref, no store */
    ok = ok && r->body && r->body[r->len] == '\0' && strlen(r->body) == r->json_len;
    ok = ok && !strstr(r->body, "\"code\":\"internal\"");
    if (!ok) {
        fprintf(stderr, "fuzz_onnx: %s answered %d: %.2000s\n", what, r->status, r->body ? r->body : "(null)");
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ready) init();
    gd_response r;
    if (size && data[0] == '{') {
        gd_handle("forward", (const char *)data, size, &lim, &r);
        check(&r, "a request");
        gd_response_free(&r);
        return 0;
    }
    static const char head[] = "{\"graph\": {\"onnx\": \"";
    static const char tail[] = "\"}, \"inputs\": {\"x\": [[1, 2, 3], [4, 5, 6]], \"input\": [[1, 0, 1], [0, 1, 0]], "
                               "\"input.1\": [[0.5, 1, 2], [3, 4, 5]], \"data\": [[1, 1, 1], [2, 2, 2]]}}";
    size_t n = cd_b64_encoded_len(size);
    char *body = malloc(sizeof head + n + sizeof tail);
    if (!body) return 0;
    memcpy(body, head, sizeof head - 1);
    cd_b64_encode(data, size, body + sizeof head - 1);
    memcpy(body + sizeof head - 1 + n, tail, sizeof tail);
    gd_handle("forward", body, sizeof head - 1 + n + sizeof tail - 1, &lim, &r);
    check(&r, "a model");
    if (r.status == 400 && !strstr(r.body, "\"path\":\"/graph") && !strstr(r.body, "\"path\":\"/inputs") &&
        !strstr(r.body, "\"path\":\"/outputs\"")) {
        fprintf(stderr, "fuzz_onnx: a 400 not about the model: %s\n", r.body);
        abort();
    }
    gd_response_free(&r);
    free(body);
    return 0;
}

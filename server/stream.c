/* stream.c -- a streamed answer (/v1/step with "stream": true): the lines
 * a worker produces are kept under the request's lock and handed to
 * libmicrohttpd's content reader as they come, the connection suspended
 * while there is nothing to send; chunked NDJSON. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "server.h"

/* Append len bytes to st's lines (under st->mu). A line that finds no
 * memory is dropped: the final one then says what the steps did. */
void srv_stream_append(req_stream *st, const char *p, size_t len) {
    if (st->len + len > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->len + len) cap *= 2;
        char *nb = realloc(st->buf, cap);
        if (!nb) return;
        st->buf = nb;
        st->cap = cap;
    }
    memcpy(st->buf + st->len, p, len);
    st->len += len;
}

/* gd_call.on_line of a request handed to a worker: the first line makes
 * the answer a stream (the connection, suspended since the hand-off, is
 * resumed to queue it: srv_stream_start); later ones wake a reader that
 * waits. */
void srv_stream_line(void *ctx, const char *line, size_t len) {
    req *r = ctx;
    req_stream *st = &r->stream;
    int resume = 0;
    pthread_mutex_lock(&st->mu);
    srv_stream_append(st, line, len);
    if (!st->started) st->started = resume = 1;
    else if (st->reader_waits) st->reader_waits = 0, resume = 1;
    pthread_mutex_unlock(&st->mu);
    if (resume) MHD_resume_connection(r->c); /* suspended until now, so r is alive */
}

/* MHD's content reader of a streamed answer: the lines that came, the
 * end once the last is sent, or (none yet) suspend until the worker
 * brings more. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    req *r = cls;
    req_stream *st = &r->stream;
    pthread_mutex_lock(&st->mu);
    size_t n = st->len - st->sent;
    if (n) {
        if (n > max) n = max;
        memcpy(buf, st->buf + st->sent, n);
        st->sent += n;
        if (st->sent == st->len) st->sent = st->len = 0;
        pthread_mutex_unlock(&st->mu);
        r->out_bytes += n;
        return (ssize_t)n;
    }
    if (st->finished) {
        pthread_mutex_unlock(&st->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    st->reader_waits = 1;
    MHD_suspend_connection(r->c);
    pthread_mutex_unlock(&st->mu);
    return 0;
}

/* Queue the streamed answer: 200, NDJSON, chunked, read by stream_read. */
enum MHD_Result srv_stream_start(req *r) {
    struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, r, NULL);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no"); /* nginx: pass lines on as they come */
    srv_http_common_headers(r, resp);
    if (atomic_load(&r->s->draining)) MHD_add_response_header(resp, "Connection", "close");
    r->status = 200;
    enum MHD_Result ok = MHD_queue_response(r->c, 200, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* The completion of a request whose worker may still stream: raise its
 * cancel flag and wait for the worker to let go of it (cancelled work
 * stops within about 100 ms), then free the stream. */
void srv_stream_finish(req *r) {
    req_stream *st = &r->stream;
    if (!st->inited) return;
    pthread_mutex_lock(&st->mu);
    if (!st->worker_done) r->cancel = 1;
    while (!st->worker_done) pthread_cond_wait(&st->done_cv, &st->mu);
    pthread_mutex_unlock(&st->mu);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->done_cv);
    free(st->buf);
    st->inited = 0;
}

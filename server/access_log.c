/* access_log.c -- the daemon's log on stderr, text or JSON
 * (--log-format): one line per request (srv_log_line, from the request's
 * completion), and libmicrohttpd's own messages in the same format
 * (srv_log_mhd_message), where the status it answered by itself is kept
 * for that request's line (srv_log_take_mhd_status). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/buf.h"
#include "server.h"

/* ms with three decimals, as the log shows it (no printf: the log line is
 * on every request's path). */
static void put_ms(cd_buf *b, double ms) {
    long long us = ms > 0 ? (long long)(ms * 1e3 + 0.5) : 0;
    char frac[4] = {(char)('0' + us / 100 % 10), (char)('0' + us / 10 % 10), (char)('0' + us % 10), 0};
    cd_buf_i64(b, us / 1000);
    cd_buf_putc(b, '.');
    cd_buf_puts(b, frac);
}

/* The UTC time of this second, ISO 8601; formatted once a second per thread. */
static const char *timestamp(void) {
    static _Thread_local time_t last = -1;
    static _Thread_local char ts[32];
    time_t t = time(NULL);
    if (t != last) {
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
        last = t;
    }
    return ts;
}

/* s into the text log with each byte that could end the line, fake a
 * field or drive a terminal (controls, space, '"', '\\', DEL and bytes
 * above it) as \xHH, as nginx escapes its access log. The JSON log's
 * strings are escaped by cd_buf_str. */
static void put_escaped(cd_buf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *q = (const unsigned char *)s; *q; q++) {
        if (*q > 0x20 && *q < 0x7f && *q != '"' && *q != '\\') {
            cd_buf_putc(b, (char)*q);
        } else {
            char e[4] = {'\\', 'x', hex[*q >> 4], hex[*q & 15]};
            cd_buf_put(b, e, sizeof e);
        }
    }
}

/* compute_ms's phases, in the API's words: decode_ms, compile_ms,
 * execute_ms and encode_ms, as key=value pairs or JSON members. */
static void put_phases(cd_buf *b, const gd_timing *t, int json) {
    static const char *const names[] = {"decode_ms", "compile_ms", "execute_ms", "encode_ms"};
    const double ms[] = {t->decode_ms, t->compile_ms, t->execute_ms, t->encode_ms};
    for (int i = 0; i < 4; i++) {
        cd_buf_puts(b, json ? ",\"" : " ");
        cd_buf_puts(b, names[i]);
        cd_buf_puts(b, json ? "\":" : "=");
        put_ms(b, ms[i]);
    }
}

/* One line per request on stderr, text or JSON:
 *   <time> <method> <path> <status> in=N out=N read_ms=X queue_ms=X compute_ms=X total_ms=X
 *   [decode_ms=X compile_ms=X execute_ms=X encode_ms=X] id=ID
 * read_ms: from the headers to the last byte of the body; when the request
 * computed, compute_ms is split into the API's phases (their sum is at
 * most compute_ms). */
void srv_log_line(const req *r) {
    double read_ms = r->t_queued > 0 ? r->t_queued - r->t_start : 0;
    double queue_ms = r->t_started > 0 ? r->t_started - r->t_queued : 0;
    double compute_ms = r->t_done > 0 ? r->t_done - r->t_started : 0;
    double total_ms = gd_now_ms() - r->t_start;
    int json = !strcmp(r->s->cfg.log_format, "json");
    cd_buf b = {0};
    if (json) {
        cd_buf_puts(&b, "{\"time\":");
        cd_buf_str(&b, timestamp());
        cd_buf_puts(&b, ",\"id\":");
        cd_buf_str(&b, r->id);
        cd_buf_puts(&b, ",\"method\":");
        cd_buf_str(&b, r->method[0] ? r->method : "-");
        cd_buf_puts(&b, ",\"path\":");
        cd_buf_str(&b, r->url[0] ? r->url : "-");
        cd_buf_puts(&b, ",\"status\":");
    } else {
        cd_buf_puts(&b, timestamp());
        cd_buf_putc(&b, ' ');
        put_escaped(&b, r->method[0] ? r->method : "-");
        cd_buf_putc(&b, ' ');
        put_escaped(&b, r->url[0] ? r->url : "-");
        cd_buf_putc(&b, ' ');
    }
    cd_buf_i64(&b, r->status);
    cd_buf_puts(&b, json ? ",\"bytes_in\":" : " in=");
    cd_buf_i64(&b, (int64_t)r->len);
    cd_buf_puts(&b, json ? ",\"bytes_out\":" : " out=");
    cd_buf_i64(&b, (int64_t)r->out_bytes);
    cd_buf_puts(&b, json ? ",\"read_ms\":" : " read_ms=");
    put_ms(&b, read_ms);
    cd_buf_puts(&b, json ? ",\"queue_ms\":" : " queue_ms=");
    put_ms(&b, queue_ms);
    cd_buf_puts(&b, json ? ",\"compute_ms\":" : " compute_ms=");
    put_ms(&b, compute_ms);
    cd_buf_puts(&b, json ? ",\"total_ms\":" : " total_ms=");
    put_ms(&b, total_ms);
    if (r->t_done > 0) put_phases(&b, &r->phases, json);
    if (json) {
        cd_buf_puts(&b, "}\n");
    } else {
        cd_buf_puts(&b, " id=");
        cd_buf_puts(&b, r->id);
        cd_buf_putc(&b, '\n');
    }
    if (!b.oom) fwrite(b.p, 1, b.len, stderr);
    cd_buf_free(&b);
}

/* The status libmicrohttpd itself answered on this thread and has not been
 * logged yet (0: none): set from its "Error processing request" message,
 * taken by the request's srv_http_on_completed, or by srv_conn_notify at
 * the close when the request never got as far as its URI (414, 505). */
static _Thread_local unsigned mhd_error_status;

unsigned srv_log_take_mhd_status(void) {
    unsigned status = mhd_error_status;
    mhd_error_status = 0;
    return status;
}

/* MHD_OPTION_EXTERNAL_LOGGER: libmicrohttpd's messages as lines of the
 * daemon's log, in its format (text or JSON), control bytes escaped. Its
 * "Error processing request (HTTP response code is N ...)" is not printed:
 * that request's own line says it. */
void srv_log_mhd_message(void *cls, const char *fmt, va_list ap) {
    server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    unsigned status;
    if (sscanf(msg, "Error processing request (HTTP response code is %u", &status) == 1) {
        mhd_error_status = status;
        return;
    }
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) msg[--n] = '\0';
    cd_buf b = {0};
    if (!strcmp(s->cfg.log_format, "json")) {
        cd_buf_puts(&b, "{\"time\":");
        cd_buf_str(&b, timestamp());
        cd_buf_puts(&b, ",\"level\":\"warn\",\"source\":\"libmicrohttpd\",\"msg\":");
        cd_buf_str(&b, msg);
        cd_buf_puts(&b, "}\n");
    } else {
        static const char hex[] = "0123456789abcdef";
        cd_buf_puts(&b, timestamp());
        cd_buf_puts(&b, " libmicrohttpd: ");
        for (const unsigned char *q = (const unsigned char *)msg; *q; q++) {
            if (*q >= 0x20 && *q != 0x7f && *q != '\\') {
                cd_buf_putc(&b, (char)*q);
            } else {
                char e[4] = {'\\', 'x', hex[*q >> 4], hex[*q & 15]};
                cd_buf_put(&b, e, sizeof e);
            }
        }
        cd_buf_putc(&b, '\n');
    }
    if (!b.oom) fwrite(b.p, 1, b.len, stderr);
    cd_buf_free(&b);
}

/* out.h -- TEMPORARY: the old names of the JSON writer, now
 * api/codec/buf.h (cd_buf_*, cd_join), for server/ files not renamed yet.
 * Delete once server/ uses the cd_ names. */
#ifndef GRADD_OUT_COMPAT_H
#define GRADD_OUT_COMPAT_H

#include "codec/buf.h"

#define gd_buf cd_buf
#define gd_buf_free cd_buf_free
#define gd_buf_i64 cd_buf_i64
#define gd_buf_put cd_buf_put
#define gd_buf_putc cd_buf_putc
#define gd_buf_puts cd_buf_puts
#define gd_buf_str cd_buf_str
#define gd_buf_take cd_buf_take
#define gd_buf_key cd_buf_key
#define gd_buf_f64 cd_buf_f64
#define gd_buf_f32 cd_buf_f32
#define gd_buf_reserve cd_buf_reserve
#define gd_join cd_join
#define gd_i64_text cd_i64_text

#endif

-- wrk script for tools/bench-http: POST the file named by $BENCH_BODY with
-- Content-Type: application/json (GET when $BENCH_BODY is empty; with
-- $BENCH_IHCL set, Triton's binary layout: Content-Type
-- application/octet-stream and Inference-Header-Content-Length), and print
-- one machine-readable line at the end:
--   BENCH requests=N duration_us=N rps=X lat_mean_us=X lat_p50_us=X lat_p99_us=X
--         err_connect=N err_read=N err_write=N err_status=N err_timeout=N bytes=N
local path = os.getenv("BENCH_BODY")
if path and path ~= "" then
   local f = assert(io.open(path, "rb"))
   wrk.method = "POST"
   wrk.body = f:read("*a")
   f:close()
   wrk.headers["Content-Type"] = "application/json"
   local ihcl = os.getenv("BENCH_IHCL")
   if ihcl and ihcl ~= "" then
      wrk.headers["Content-Type"] = "application/octet-stream"
      wrk.headers["Inference-Header-Content-Length"] = ihcl
   end
end

function done(summary, latency, requests)
   local e = summary.errors
   local secs = summary.duration / 1e6
   io.write(string.format(
      "BENCH requests=%d duration_us=%d rps=%.3f lat_mean_us=%.1f lat_p50_us=%d lat_p99_us=%d " ..
      "err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d bytes=%d\n",
      summary.requests, summary.duration, summary.requests / secs, latency.mean,
      latency:percentile(50), latency:percentile(99),
      e.connect, e.read, e.write, e.status, e.timeout, summary.bytes))
end

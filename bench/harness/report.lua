-- Shared by every scenario: prints one JSON line the harness reads.
function done(summary, latency, requests)
  local sent = 0
  for _, t in ipairs(threads or {}) do
    local n = t:get("sent")
    if n then sent = math.max(sent, n) end
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"max_sent_per_thread":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout, sent))
end

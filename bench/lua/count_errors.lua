-- bench/lua/count_errors.lua — wrk script for bench/gateway_proxy.sh (failover part).
--
-- Counts every response whose status is not 2xx (wrk's own "Non-2xx or 3xx" line only counts
-- status >= 400), per status, over all wrk threads, and prints them with wrk's socket errors
-- as one machine-readable line after wrk's report:
--   count_errors: requests N non2xx N connect N read N write N timeout N statuses 502=3,503=1
-- Client-visible errors = non2xx + connect + read + write + timeout.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  non2xx = 0
  by_status = {}
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    by_status[status] = (by_status[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local n, by = 0, {}
  for _, t in ipairs(threads) do
    n = n + t:get("non2xx")
    for s, c in pairs(t:get("by_status")) do
      by[s] = (by[s] or 0) + c
    end
  end
  local keys = {}
  for s, _ in pairs(by) do table.insert(keys, s) end
  table.sort(keys)
  local parts = {}
  for _, s in ipairs(keys) do table.insert(parts, s .. "=" .. by[s]) end
  local statuses = #parts > 0 and table.concat(parts, ",") or "-"
  local e = summary.errors
  io.write(string.format(
    "count_errors: requests %d non2xx %d connect %d read %d write %d timeout %d statuses %s\n",
    summary.requests, n, e.connect, e.read, e.write, e.timeout, statuses))
end

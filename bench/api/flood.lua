-- wrk script for bench/api/flood.sh: GET PATH with the Authorization of wrk's -H, optionally paced, counting statuses.
--
--   wrk ... -s flood.lua URL -- PATH DELAY_MS      (DELAY_MS 0: as fast as the connection goes)
--
-- done() prints one RESULT line (latencies in microseconds; s2xx/s401/s429/sother: answers by status).

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
end

local path, pause

function init(args)
  path = args[1] or "/clusters"
  pause = tonumber(args[2] or "0")
  s2xx, s401, s429, sother = 0, 0, 0, 0
end

function delay()
  return pause
end

function request()
  return wrk.format(nil, path)
end

function response(status, headers, body)
  if status >= 200 and status < 300 then s2xx = s2xx + 1
  elseif status == 401 then s401 = s401 + 1
  elseif status == 429 then s429 = s429 + 1
  else sother = sother + 1 end
end

function done(summary, latency, requests)
  local a, b, c, d = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("s2xx"); b = b + t:get("s401"); c = c + t:get("s429"); d = d + t:get("sother")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d s2xx=%d s401=%d s429=%d sother=%d sockerr=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    latency.max, a, b, c, d, e.connect + e.read + e.write + e.timeout))
end

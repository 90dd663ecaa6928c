-- wrk script for bench/api/run.sh: every request picks its own target.
--
--   wrk ... -s targets.lua URL -- list    MAX_OFFSET LIMIT   GET /clusters/backups?offset=<0..MAX_OFFSET>&limit=LIMIT
--   wrk ... -s targets.lua URL -- cluster IDS_FILE           GET /clusters/<random id of IDS_FILE>/backups
--   wrk ... -s targets.lua URL -- backup  IDS_FILE           GET /clusters/backups/<random id of IDS_FILE>
--   wrk ... -s targets.lua URL -- ceiling BYTES              GET /bench/ceiling?bytes=BYTES
--
-- The Authorization header comes from wrk's -H option (wrk.format adds wrk.headers). The ceiling goes through the same
-- request() function, so the load generator spends the same work per request on every endpoint.
-- done() prints one machine-readable RESULT line that run.sh parses (latencies in microseconds).

local threads = {}

function setup(thread)
  threads[#threads + 1] = thread
  thread:set("tid", #threads)
end

local mode, max_offset, limit, bytes
local ids = {}

function init(args)
  mode = args[1]
  -- A fixed seed per thread: the same target sequence on every run, a different one on each thread.
  math.randomseed(7919 * (tid or 1))
  if mode == "list" then
    max_offset = tonumber(args[2])
    limit = args[3] or "100"
  elseif mode == "cluster" or mode == "backup" then
    for line in io.lines(args[2]) do
      if #line > 0 then ids[#ids + 1] = line end
    end
    if #ids == 0 then error("no ids in " .. tostring(args[2])) end
  elseif mode == "ceiling" then
    bytes = args[2]
  else
    error("unknown mode " .. tostring(mode))
  end
end

function request()
  local path
  if mode == "list" then
    path = "/clusters/backups?offset=" .. math.random(0, max_offset) .. "&limit=" .. limit
  elseif mode == "cluster" then
    path = "/clusters/" .. ids[math.random(#ids)] .. "/backups"
  elseif mode == "backup" then
    path = "/clusters/backups/" .. ids[math.random(#ids)]
  else
    path = "/bench/ceiling?bytes=" .. bytes
  end
  return wrk.format(nil, path)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d bytes=%d " ..
    "non2xx=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, summary.bytes,
    e.status, e.connect, e.read, e.write, e.timeout))
end

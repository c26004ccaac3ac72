-- POSTs each line of a file at most once across threads and runs (distinct notifications):
-- wrk -s once.lua <url> -- <file> <offset> <threads>
-- Thread t sends lines offset+t, offset+t+T, …; the harness moves offset past the furthest sent.
threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local offset, T = tonumber(args[2]), tonumber(args[3])
  bodies = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i >= offset and (i - offset) % T == tid then bodies[#bodies + 1] = line end
    i = i + 1
  end
  n = 0
end

function request()
  n = n + 1
  wrk.thread:set("sent", n)
  return wrk.format("POST", nil, { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" }, bodies[n] or bodies[#bodies])
end

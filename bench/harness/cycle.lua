-- POSTs the lines of a file in turn, each line `cookie<TAB>body` (cookie may be empty): one line
-- per shopper, so the shop sees many browsers, each with its own session and CSRF token.
threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  lines = {}
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    lines[#lines + 1] = { line:sub(1, tab - 1), line:sub(tab + 1) }
  end
  n = tid * 7919
end

function request()
  n = n + 1
  local l = lines[n % #lines + 1]
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if l[1] ~= "" then headers["Cookie"] = l[1] end
  return wrk.format("POST", nil, headers, l[2])
end

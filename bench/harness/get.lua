-- GETs the URL, with the Cookie header from the first argument when given (a returning visitor).
threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  req = wrk.format("GET", nil, (args[1] and args[1] ~= "") and { Cookie = args[1] } or {}, nil)
end
function request() return req end

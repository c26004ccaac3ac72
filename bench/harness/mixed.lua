-- Mixed load: of every 20 requests a thread sends, 16 browse (GET catalog and goods pages as a
-- returning visitor), 3 buy (POST /orders as one of many shoppers), 1 notify (a distinct signed
-- notification, each sent once across threads and runs): 80 / 15 / 5 %.
-- Thread i drives instance i % #hosts (MIXED_HOSTS="127.0.0.1:3701,127.0.0.1:3702").
-- wrk -s mixed.lua <url> -- <browse file> <shoppers file> <notifications file> <offset> <threads> <cookie>
threads = {}
local counter = 0
function setup(thread)
  local hosts = {}
  for h in string.gmatch(os.getenv("MIXED_HOSTS") or "", "[^,]+") do hosts[#hosts + 1] = h end
  if #hosts > 0 then
    local host, port = string.match(hosts[counter % #hosts + 1], "^(.*):(%d+)$")
    thread.addr = wrk.lookup(host, port)[1]
  end
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local KINDS = "bbbbubbbbbubbbbnbbub" -- b browse, u buy, n notify

function init(args)
  local offset, T = tonumber(args[4]), tonumber(args[5])
  local cookie = args[6]
  browse = {}
  for path in io.lines(args[1]) do
    browse[#browse + 1] = wrk.format("GET", path, { Cookie = cookie }, nil)
  end
  buys = {}
  for line in io.lines(args[2]) do
    local tab = line:find("\t", 1, true)
    buys[#buys + 1] = wrk.format("POST", "/orders",
      { ["Content-Type"] = "application/x-www-form-urlencoded", Cookie = line:sub(1, tab - 1) }, line:sub(tab + 1))
  end
  notifies = {}
  local i = 0
  for line in io.lines(args[3]) do
    if i >= offset and (i - offset) % T == tid then notifies[#notifies + 1] = line end
    i = i + 1
  end
  n, b, u, sent = tid * 7, tid * 13, tid * 29, 0
end

function request()
  n = n + 1
  local kind = KINDS:sub(n % 20 + 1, n % 20 + 1)
  if kind == "u" then
    u = u + 1
    return buys[u % #buys + 1]
  elseif kind == "n" then
    sent = sent + 1
    wrk.thread:set("sent", sent)
    return wrk.format("POST", "/alipay/notify", { ["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8" },
      notifies[sent] or notifies[#notifies])
  end
  b = b + 1
  return browse[b % #browse + 1]
end

-- wrk script: each request redeems the next pre-issued authorization code once.
local codes = {}
local idx = 0
for line in io.lines(os.getenv("BENCH_CODES")) do codes[#codes + 1] = line end
local auth = os.getenv("BENCH_AUTH")
local redirect = os.getenv("BENCH_REDIRECT")

request = function()
  idx = idx + 1
  local code = codes[idx] or "exhausted"
  local body = "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. redirect
  return wrk.format("POST", "/token", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = "Basic " .. auth,
  }, body)
end

-- POST /api/orders: one unit of BENCH_PRODUCT per order, as BENCH_TOKEN's user.
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"items":[{"productId":"' .. os.getenv("BENCH_PRODUCT") .. '","quantity":1}]}'

-- wrk script for bench/load.sh: POST /api/login (argon2id verification on each request).
wrk.method = "POST"
wrk.body = '{"UserName":"admin","Password":"load-benchmark-password"}'
wrk.headers["Content-Type"] = "application/json"

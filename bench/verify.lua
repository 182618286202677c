-- wrk script for bench/load.sh: POST /api/keys/verify, asking about the plain key in
-- KEYWARD_VERIFY_KEY (the caller's own credentials come as the request file's header).
wrk.method = "POST"
wrk.body = '{"data":{"key":"' .. os.getenv("KEYWARD_VERIFY_KEY") .. '","permissions":["activities:read"]}}'
wrk.headers["Content-Type"] = "application/json"

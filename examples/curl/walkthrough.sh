#!/usr/bin/env bash
# From password to signed request with curl and openssl: log in, create an API key, and call
# /api/activities with each signed scheme. Run against a keyward started with `keyward serve`:
#
#   KEYWARD_URL=http://127.0.0.1:8080 ADMIN_PASSWORD='the printed password' examples/curl/walkthrough.sh
set -euo pipefail
URL=${KEYWARD_URL:-http://127.0.0.1:8080}
json_field() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }
hmac_hex() { openssl dgst -sha256 -hmac "$1" | sed 's/^.* //'; }
now_ms() { date +%s%3N; }

# 1. Log in as admin for a bearer token.
TOKEN=$(curl -sf -X POST "$URL/api/login" -H 'Content-Type: application/json' \
    -d "{\"UserName\":\"admin\",\"Password\":\"$ADMIN_PASSWORD\"}" | json_field access_token)

# 2. Create an API key for an application; its secret is shown this once.
KEY_JSON=$(curl -sf -X POST "$URL/api/admin/keys" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' \
    -d '{"data":{"name":"Walkthrough","permissions":["activities:read","activities:write"]}}')
KEY=$(echo "$KEY_JSON" | json_field token)
SECRET=$(echo "$KEY_JSON" | json_field secret)
echo "created key $KEY"

# 3. header-hmac (Devo): sign apikey + body + timestamp.
BODY='{"data":{"name":"Water points"}}'
TS=$(now_ms)
SIGN=$(printf '%s' "$KEY$BODY$TS" | hmac_hex "$SECRET")
curl -sf -X POST "$URL/api/activities" -H 'Content-Type: application/json' \
    -H "x-logtrust-apikey: $KEY" -H "x-logtrust-timestamp: $TS" -H "x-logtrust-sign: $SIGN" \
    -d "$BODY"
echo

# 4. query-hmac (DevResults): sign key|value| pairs sorted by key, then append s.
MS=$(now_ms)
S=$(printf 'ms|%s|page|1|t|%s|' "$MS" "$KEY" | hmac_hex "$SECRET")
curl -sf "$URL/api/activities?page=1&t=$KEY&ms=$MS&s=$S"
echo

# 5. bearer: the key's token and secret log in too.
KEY_TOKEN=$(curl -sf -X POST "$URL/api/login" -H 'Content-Type: application/json' \
    -d "{\"UserName\":\"$KEY\",\"Password\":\"$SECRET\"}" | json_field access_token)
curl -sf "$URL/api/me" -H "Authorization: Bearer $KEY_TOKEN"
echo

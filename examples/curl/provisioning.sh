#!/usr/bin/env bash
# Provisioning with curl and openssl, Devo style: a reseller key (from `keyward admin reseller
# create`) creates domain acme, its administrator and a domain key, with header-hmac signed
# requests; the domain key then calls /api/activities.
#
#   KEYWARD_URL=http://127.0.0.1:8080 RESELLER_KEY=kwkey_... RESELLER_SECRET=kwsec_... \
#       examples/curl/provisioning.sh
set -euo pipefail
URL=${KEYWARD_URL:-http://127.0.0.1:8080}
json_field() { sed -E "s/.*\"$1\":\"([^\"]+)\".*/\1/"; }

# x-logtrust-sign = hex HMAC-SHA256(secret, apikey + body + timestamp)
signed() { # signed METHOD PATH KEY_HEADER KEY SECRET [BODY]
    local body=${6:-} ts sign
    ts=$(date +%s%3N)
    sign=$(printf '%s' "$4$body$ts" | openssl dgst -sha256 -hmac "$5" | sed 's/^.* //')
    curl -sf -X "$1" "$URL$2" -H 'Content-Type: application/json' \
        -H "$3: $4" -H "x-logtrust-timestamp: $ts" -H "x-logtrust-sign: $sign" \
        ${body:+-d "$body"}
}
as_reseller() { signed "$1" "$2" x-logtrust-reseller-apikey "$RESELLER_KEY" "$RESELLER_SECRET" "${3:-}"; }

as_reseller POST /probio/domains '{"name":"acme"}'; echo
as_reseller POST /probio/domains/acme/administrator \
    '{"username":"acme-admin","password":"change this at first login"}'; echo
KEY_JSON=$(as_reseller POST /probio/domains/acme/keys \
    '{"name":"Acme sync","permissions":["activities:read","activities:write"]}')
DOMAIN_KEY=$(echo "$KEY_JSON" | json_field token)
DOMAIN_SECRET=$(echo "$KEY_JSON" | json_field secret)
echo "domain key $DOMAIN_KEY"

# The domain key works on the domain's API, with domain credentials.
signed POST /api/activities x-logtrust-domain-apikey "$DOMAIN_KEY" "$DOMAIN_SECRET" \
    '{"data":{"name":"Acme water points"}}'; echo
as_reseller GET /probio/domains; echo

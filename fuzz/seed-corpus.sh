#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from vectors/, in each target's input format (see
# crates/keyward-sig/src/__fuzzing.rs). Safe to run again: files are named by case.
set -euo pipefail
cd "$(dirname "$0")"
vectors=../vectors
targets="query_string signature_fields content_digest timestamp verify_request gateway_path
gateway_query forward_auth ext_authz component_params forwarded_for front_door"
for target in $targets; do
    mkdir -p "corpus/$target"
done
header() { grep -i "^$2:" "$1" | head -n 1 | sed -e "s/^[^:]*:[[:space:]]*//" || true; }
for dir in "$vectors"/*/*/; do
    request="$dir/request.txt"
    [ -f "$request" ] || continue
    name=$(basename "$(dirname "$dir")")-$(basename "$dir")
    body="$dir/body.txt"
    # verify_request: the head, a blank line, the body.
    { cat "$request"; printf '\n\n'; [ -f "$body" ] && cat "$body"; } > "corpus/verify_request/$name"
    # query_string and gateway_query: the raw query of the request line.
    head -n 1 "$request" | cut -d' ' -f2 | sed -n 's/^[^?]*?//p' > "corpus/query_string/$name"
    cp "corpus/query_string/$name" "corpus/gateway_query/$name"
    # gateway_path: the path of the request line.
    head -n 1 "$request" | cut -d' ' -f2 | sed 's/?.*//' > "corpus/gateway_path/$name"
    # forward_auth: the request as nginx would ask about it.
    target=$(head -n 1 "$request" | cut -d' ' -f2)
    method=$(head -n 1 "$request" | cut -d' ' -f1)
    printf 'GET /auth/check\nx-original-method: %s\nx-original-uri: %s\n' "$method" "$target" \
        > "corpus/forward_auth/$name"
    # front_door: the method, the host and the path, a line each.
    host=$(header "$request" host)
    printf '%s\n%s\n%s' "$method" "${host:-api.example.com}" "$(head -n 1 "$request" | cut -d' ' -f2 | sed 's/?.*//')" \
        > "corpus/front_door/$name"
    # signature_fields: Signature-Input NUL Signature.
    input=$(header "$request" signature-input)
    if [ -n "$input" ]; then
        { printf '%s' "$input"; printf '\0'; printf '%s' "$(header "$request" signature)"; } \
            > "corpus/signature_fields/$name"
        # component_params: the member, NUL, the request, NUL, a status byte and answer headers.
        { printf '%s' "$input"; printf '\0'; cat "$request"; printf '\n\n'; [ -f "$body" ] && cat "$body"
          printf '\0d'; printf 'content-type: application/json\nexample-dict: a=1, b=(x y)'; } \
            > "corpus/component_params/$name"
    fi
    # forwarded_for: a peer byte, then X-Forwarded-For and Forwarded lines.
    printf '\001x-forwarded-for: 203.0.113.9, 10.0.0.2\nforwarded: for="[2001:db8::5]:4711";proto=https\n' \
        > "corpus/forwarded_for/$name"
    # content_digest: Content-Digest NUL body.
    digest=$(header "$request" content-digest)
    if [ -n "$digest" ]; then
        { printf '%s' "$digest"; printf '\0'; [ -f "$body" ] && cat "$body"; } \
            > "corpus/content_digest/$name"
    fi
    # timestamp: x-logtrust-timestamp, or the query's ms.
    stamp=$(header "$request" x-logtrust-timestamp)
    [ -n "$stamp" ] || stamp=$(head -n 1 "$request" | grep -o 'ms=[^& ]*' | head -n 1 | cut -c4- || true)
    [ -n "$stamp" ] && printf '%s' "$stamp" > "corpus/timestamp/$name"
done
# front_door: the spellings issue 18's attacks used.
i=0
for case in "GET\npriv.example.\n//admin/x" "HEAD\nPRIV.example:80\n/public/..;/admin/x" \
    "PUT\n0x7f.1\n/public/%2e%2e;/admin" "DELETE\n[::ffff:1.2.3.4]:8080\n/%6Frders/%41" \
    "POST\nxn--bcher-kva.example\n/a;jsessionid=1/b"; do
    printf '%b' "$case" > "corpus/front_door/attack-$i"; i=$((i + 1))
done
# verify_request: a plain API key (the api-key scheme; no vector signs anything) in its header,
# as a bearer token, and beside an access token.
plain=kwapi_cdefghijklmnopqrstuvwxyz0123453gHg2X
printf 'GET /api/activities\nx-api-key: %s\n\n' "$plain" > corpus/verify_request/api-key-header
printf 'GET /api/activities\nAuthorization: Bearer %s\n\n' "$plain" > corpus/verify_request/api-key-bearer
printf 'GET /api/activities\nX-Api-Key: %s\nAuthorization: Bearer kwat_x\n\n' "$plain" \
    > corpus/verify_request/api-key-ambiguous
for target in $targets; do
    echo "$target: $(ls "corpus/$target" | wc -l) seeds"
done

<?php
/**
 * keyward sample client for PHP 8 (standard library only).
 *
 * Signs requests with the two HMAC schemes described in docs/schemes.md:
 *
 *   query-hmac  (DevResults)  t, ms and s in the query string
 *   header-hmac (Devo)        x-logtrust-* headers
 *
 * Use it as a library:
 *
 *   require 'keyward_client.php';
 *   $url = Keyward\sign_url('https://api.example.com/api/activities?page=1', $token, $secret);
 *   $headers = Keyward\sign_headers($token, $secret, $body);
 *
 * or from the command line:
 *
 *   php keyward_client.php check-vectors [VECTORS_DIR]
 *   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_SECRET=... php keyward_client.php live
 *   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_PRIVATE_KEY_FILE=key.pem php keyward_client.php ed25519
 *
 * `ed25519` signs with RFC 9421 and an Ed25519 private key (a public-key credential: keyward
 * holds only the public key; `keyward keygen` writes the private one), with PHP's sodium
 * extension. It first reproduces RFC 9421's own Ed25519 example byte for byte.
 */

declare(strict_types=1);

namespace Keyward;

/** Current Unix time in milliseconds, as a decimal string. */
function now_ms(): string
{
    return (string) (int) floor(microtime(true) * 1000);
}

/** Lower-case hex HMAC-SHA256; the key is the secret's UTF-8 bytes, used as is. */
function hmac_hex(string $secret, string $data): string
{
    return hash_hmac('sha256', $data, $secret);
}

// ---------------------------------------------------------------------------------------------
// query-hmac
// ---------------------------------------------------------------------------------------------

/**
 * Form-decodes one key or value: '+' is a space, %XX (either case) is one byte, and a '%' not
 * followed by two hex digits stays a literal '%'. The result is raw bytes, not re-encoded.
 */
function form_decode(string $s): string
{
    $s = str_replace('+', ' ', $s);
    return preg_replace_callback(
        '/%([0-9A-Fa-f]{2})/',
        static fn (array $m): string => chr(hexdec($m[1])),
        $s
    );
}

/**
 * Parses a raw query string (without '?') into a list of [key, value] pairs in URL order.
 * Empty segments are skipped; a segment without '=' is a key with an empty value.
 *
 * @return list<array{0: string, 1: string}>
 */
function parse_query(string $query): array
{
    $pairs = [];
    foreach (explode('&', $query) as $segment) {
        if ($segment === '') {
            continue;
        }
        $parts = explode('=', $segment, 2);
        $pairs[] = [form_decode($parts[0]), form_decode($parts[1] ?? '')];
    }
    return $pairs;
}

/**
 * The query-hmac string-to-sign: every parameter but 's', as "key|value|" pairs.
 *
 * @param string $order        'bytewise' (canonical; what new clients should use), 'url' or
 *                             'case-insensitive' (stable sort by ASCII-lower-cased key)
 * @param string $blankValues  'signed' (default) or 'skipped' (leave out parameters whose value
 *                             is empty; only accepted by servers configured for it)
 */
function query_string_to_sign(string $query, string $order = 'bytewise', string $blankValues = 'signed'): string
{
    $pairs = array_values(array_filter(
        parse_query($query),
        static fn (array $p): bool => $p[0] !== 's' && !($blankValues === 'skipped' && $p[1] === '')
    ));
    switch ($order) {
        case 'bytewise':
            usort($pairs, static fn (array $a, array $b): int => strcmp($a[0], $b[0]));
            break;
        case 'case-insensitive':
            // PHP 8 sorts are stable, so keys that differ only in case keep their URL order.
            usort($pairs, static fn (array $a, array $b): int => strcmp(ascii_lower($a[0]), ascii_lower($b[0])));
            break;
        case 'url':
            break;
        default:
            throw new \InvalidArgumentException("unknown order: $order");
    }
    $out = '';
    foreach ($pairs as [$key, $value]) {
        $out .= $key . '|' . $value . '|';
    }
    return $out;
}

function ascii_lower(string $s): string
{
    return strtr($s, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
}

/**
 * Signs a URL with query-hmac: appends t and ms, then s = hex HMAC-SHA256(secret, string-to-sign).
 * The URL may already have a query (its parameters are signed too) but no t, ms or s.
 *
 * @param string|int|null $ms Unix time in milliseconds; the current time when null
 */
/** The path the live commands call: KEYWARD_PATH, below KEYWARD_URL [default: /api/activities]. */
function resource(): string
{
    $path = getenv('KEYWARD_PATH');
    return $path === false || $path === '' ? '/api/activities' : $path;
}

function sign_url(string $url, string $token, string $secret, string|int|null $ms = null): string
{
    $ms = $ms === null ? now_ms() : (string) $ms;
    $fragment = '';
    if (($hash = strpos($url, '#')) !== false) {
        $fragment = substr($url, $hash);
        $url = substr($url, 0, $hash);
    }
    $query = ($q = strpos($url, '?')) === false ? '' : substr($url, $q + 1);
    $seen = [];
    foreach (parse_query($query) as [$key]) {
        if (in_array($key, ['t', 'ms', 's'], true)) {
            throw new \InvalidArgumentException("the URL already has a '$key' parameter");
        }
        if (isset($seen[$key])) {
            throw new \InvalidArgumentException("parameter '$key' is repeated; keyward refuses that");
        }
        $seen[$key] = true;
    }
    $sep = $q === false ? '?' : (($query === '' || str_ends_with($query, '&')) ? '' : '&');
    $url .= $sep . 't=' . rawurlencode($token) . '&ms=' . rawurlencode($ms);
    $query = substr($url, strpos($url, '?') + 1);
    $s = hmac_hex($secret, query_string_to_sign($query));
    return $url . '&s=' . $s . $fragment;
}

// ---------------------------------------------------------------------------------------------
// header-hmac
// ---------------------------------------------------------------------------------------------

const KEY_HEADERS = [
    'domain' => 'x-logtrust-domain-apikey',
    'reseller' => 'x-logtrust-reseller-apikey',
    'apikey' => 'x-logtrust-apikey', // Devo Query API style; keyward treats it as a domain key
];

/** The header-hmac string-to-sign: API key + body bytes + timestamp text, no separators. */
function header_string_to_sign(string $apiKey, string $body, string $timestamp): string
{
    return $apiKey . $body . $timestamp;
}

/**
 * Signs a request body with header-hmac. Send the body exactly as passed here.
 *
 * @param string $kind 'domain' or 'reseller' (or 'apikey' for the plain x-logtrust-apikey header)
 * @return array<string, string> header name => value
 */
function sign_headers(string $token, string $secret, string $body = '', ?string $timestamp = null, string $kind = 'domain'): array
{
    if (!isset(KEY_HEADERS[$kind])) {
        throw new \InvalidArgumentException("unknown key kind: $kind");
    }
    $timestamp ??= now_ms();
    return [
        KEY_HEADERS[$kind] => $token,
        'x-logtrust-timestamp' => $timestamp,
        'x-logtrust-sign' => hmac_hex($secret, header_string_to_sign($token, $body, $timestamp)),
    ];
}

// ---------------------------------------------------------------------------------------------
// check-vectors
// ---------------------------------------------------------------------------------------------

/** Splits request.txt into [method, target, headers as list of [lower-cased name, value]]. */
function parse_request(string $text): array
{
    $lines = explode("\n", $text);
    [$method, $target] = explode(' ', array_shift($lines), 3);
    $headers = [];
    foreach ($lines as $line) {
        [$name, $value] = explode(':', $line, 2);
        $headers[] = [strtolower(trim($name)), trim($value, " \t")];
    }
    return [$method, $target, $headers];
}

function read_optional(string $path): ?string
{
    return is_file($path) ? file_get_contents($path) : null;
}

/**
 * Checks one case; returns null when it passes, a reason when it fails, 'skip' when the case has
 * nothing a client computes (negative cases without string-to-sign.txt).
 */
function check_case(string $scheme, string $dir): ?string
{
    $context = json_decode(file_get_contents("$dir/context.json"), true, 512, JSON_THROW_ON_ERROR);
    $expectedSts = read_optional("$dir/string-to-sign.txt");
    $expectedSig = read_optional("$dir/signature.txt");
    $sign = ($context['sign'] ?? false) === true;
    if (!$sign && $expectedSts === null) {
        return 'skip';
    }
    $secret = $context['key']['secret'];
    $options = $context['options'] ?? [];
    [, $target, $headers] = parse_request(file_get_contents("$dir/request.txt"));
    $body = read_optional("$dir/body.txt") ?? '';

    if ($scheme === 'query-hmac') {
        $query = ($q = strpos($target, '?')) === false ? '' : substr($target, $q + 1);
        $sts = $sign
            ? query_string_to_sign($query, $options['order'] ?? 'bytewise', $options['blank_values'] ?? 'signed')
            : query_string_to_sign($query);
        $sig = hmac_hex($secret, $sts);
    } else {
        $byName = [];
        foreach ($headers as [$name, $value]) {
            $byName[$name][] = $value;
        }
        $kinds = array_keys(array_filter(KEY_HEADERS, static fn (string $h): bool => isset($byName[$h])));
        if (count($kinds) !== 1 || count($byName['x-logtrust-timestamp'] ?? []) !== 1) {
            return 'no single key header and timestamp in request.txt';
        }
        $signed = sign_headers($byName[KEY_HEADERS[$kinds[0]]][0], $secret, $body, $byName['x-logtrust-timestamp'][0], $kinds[0]);
        $sts = header_string_to_sign($byName[KEY_HEADERS[$kinds[0]]][0], $body, $byName['x-logtrust-timestamp'][0]);
        $sig = $signed['x-logtrust-sign'];
    }

    $problems = [];
    if ($expectedSts !== null && $sts !== $expectedSts) {
        $problems[] = 'string-to-sign is ' . json_encode($sts, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES)
            . ', expected ' . json_encode($expectedSts, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES);
    }
    if ($sign && $sig !== $expectedSig) {
        $problems[] = "signature is $sig, expected " . ($expectedSig ?? '(no signature.txt)');
    }
    if (!$sign && $expectedSig !== null && $expectedSts !== null) {
        // e.g. rotation-previous-secret: the signature must be the HMAC with one of the secrets.
        $candidates = array_filter([$secret, $context['key']['previous_secret'] ?? null]);
        $ok = false;
        foreach ($candidates as $candidate) {
            $ok = $ok || hmac_hex($candidate, $expectedSts) === $expectedSig;
        }
        if (!$ok) {
            $problems[] = 'signature.txt is not the HMAC of string-to-sign.txt with the current or previous secret';
        }
    }
    return $problems ? implode('; ', $problems) : null;
}

function check_vectors(string $root): int
{
    $passed = 0;
    $failed = 0;
    foreach (['query-hmac', 'header-hmac'] as $scheme) {
        $cases = glob("$root/$scheme/*", GLOB_ONLYDIR) ?: [];
        if (!$cases) {
            echo "FAIL $scheme: no cases under $root/$scheme\n";
            $failed++;
        }
        sort($cases, SORT_STRING);
        foreach ($cases as $dir) {
            $name = $scheme . '/' . basename($dir);
            try {
                $result = check_case($scheme, $dir);
            } catch (\Throwable $e) {
                $result = get_class($e) . ': ' . $e->getMessage();
            }
            if ($result === 'skip') {
                continue;
            }
            if ($result === null) {
                $passed++;
            } else {
                $failed++;
                echo "FAIL $name: $result\n";
            }
        }
    }
    echo "$passed passed, $failed failed\n";
    return $failed === 0 && $passed > 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// live
// ---------------------------------------------------------------------------------------------

/** Sends one request with a stream context; returns [status, body]. */
function http_request(string $method, string $url, array $headers = [], ?string $body = null): array
{
    $lines = [];
    foreach ($headers as $name => $value) {
        $lines[] = "$name: $value";
    }
    $options = ['method' => $method, 'header' => $lines, 'ignore_errors' => true, 'timeout' => 10];
    if ($body !== null) {
        $options['content'] = $body;
    }
    $response = @file_get_contents($url, false, stream_context_create(['http' => $options]));
    $statusLine = $http_response_header[0] ?? '';
    if ($response === false || !preg_match('{^HTTP/\S+ (\d{3})}', $statusLine, $m)) {
        $error = error_get_last()['message'] ?? 'no response';
        return [0, $error];
    }
    return [(int) $m[1], $response];
}

function live(): int
{
    $base = rtrim((string) getenv('KEYWARD_URL'), '/');
    $token = (string) getenv('KEYWARD_KEY');
    $secret = (string) getenv('KEYWARD_SECRET');
    if ($base === '' || $token === '' || $secret === '') {
        fwrite(STDERR, "live needs KEYWARD_URL, KEYWARD_KEY and KEYWARD_SECRET\n");
        return 2;
    }
    $ok = true;

    // (a) query-hmac GET
    $url = sign_url($base . resource() . "?page=1", $token, $secret);
    [$status, $response] = http_request('GET', $url, ['Accept' => 'application/json']);
    echo "query-hmac  GET  " . resource() . "?page=1 -> $status\n";
    if ($status < 200 || $status > 299) {
        echo "  $response\n";
        $ok = false;
    }

    // (b) header-hmac POST; the bytes signed are the bytes sent.
    $body = json_encode(['data' => ['name' => 'from php']]);
    $headers = ['Content-Type' => 'application/json', 'Accept' => 'application/json']
        + sign_headers($token, $secret, $body, null, 'domain');
    [$status, $response] = http_request('POST', $base . resource(), $headers, $body);
    echo "header-hmac POST " . resource() . " -> $status\n";
    if ($status < 200 || $status > 299) {
        echo "  $response\n";
        $ok = false;
    }
    return $ok ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// ed25519: RFC 9421 with a private key
// ---------------------------------------------------------------------------------------------

/** The sodium secret key of a PKCS#8 PEM Ed25519 private key (its 32-byte seed expanded). */
function ed25519_secret_key(string $pem): string
{
    $der = base64_decode(preg_replace('{-----[^-]+-----|\s}', '', $pem), true);
    // The seed is the OCTET STRING (04 20) inside the privateKey OCTET STRING (04 22).
    $at = $der === false ? false : strpos($der, "\x04\x22\x04\x20");
    if ($at === false || strlen($der) < $at + 36) {
        throw new \InvalidArgumentException('not a PKCS#8 Ed25519 private key');
    }
    return sodium_crypto_sign_secretkey(sodium_crypto_sign_seed_keypair(substr($der, $at + 4, 32)));
}

/**
 * The headers that sign `$method $url` (and `$body`) for keyid `$token` with an Ed25519 secret
 * key: Content-Digest with a body, Signature-Input and Signature, over @method, @authority,
 * @path, @query (with a query) and content-digest.
 */
function sign_ed25519(string $method, string $url, string $token, string $secretKey, string $body = ''): array
{
    $parts = parse_url($url);
    $authority = strtolower($parts['host'] . (isset($parts['port']) ? ':' . $parts['port'] : ''));
    $lines = ["\"@method\": $method", "\"@authority\": $authority", '"@path": ' . ($parts['path'] ?? '/')];
    $components = ['"@method"', '"@authority"', '"@path"'];
    $headers = [];
    if (isset($parts['query'])) {
        $lines[] = '"@query": ?' . $parts['query'];
        $components[] = '"@query"';
    }
    if ($body !== '') {
        $headers['Content-Digest'] = 'sha-256=:' . base64_encode(hash('sha256', $body, true)) . ':';
        $lines[] = '"content-digest": ' . $headers['Content-Digest'];
        $components[] = '"content-digest"';
    }
    $params = '(' . implode(' ', $components) . ');created=' . time() . ";keyid=\"$token\";alg=\"ed25519\";nonce=\""
        . bin2hex(random_bytes(12)) . '"';
    $lines[] = "\"@signature-params\": $params";
    $headers['Signature-Input'] = "sig1=$params";
    $headers['Signature'] = 'sig1=:' . base64_encode(sodium_crypto_sign_detached(implode("\n", $lines), $secretKey)) . ':';
    return $headers;
}

function ed25519(): int
{
    // RFC 9421 Appendix B.2.6, reproduced: Ed25519 is deterministic.
    $vector = (getenv('KEYWARD_VECTORS') ?: __DIR__ . '/../../vectors') . '/http-signature/rfc9421-b26';
    $context = json_decode((string) file_get_contents("$vector/context.json"), true);
    $key = ed25519_secret_key($context['key']['private_key']);
    $produced = 'sig-b26=:' . base64_encode(sodium_crypto_sign_detached((string) file_get_contents("$vector/signature-base.txt"), $key)) . ':';
    $ok = $produced === file_get_contents("$vector/signature.txt");
    echo 'RFC 9421 B.2.6 ' . ($ok ? 'reproduced' : "differs: $produced") . "\n";

    $base = rtrim((string) getenv('KEYWARD_URL'), '/');
    $token = (string) getenv('KEYWARD_KEY');
    $keyFile = (string) getenv('KEYWARD_PRIVATE_KEY_FILE');
    if ($base === '' || $token === '' || $keyFile === '') {
        fwrite(STDERR, "ed25519 needs KEYWARD_URL, KEYWARD_KEY and KEYWARD_PRIVATE_KEY_FILE\n");
        return 2;
    }
    $secretKey = ed25519_secret_key((string) file_get_contents($keyFile));
    $url = $base . resource() . "?page=1";
    [$status, $response] = http_request('GET', $url, ['Accept' => 'application/json'] + sign_ed25519('GET', $url, $token, $secretKey));
    echo "ed25519 GET  " . resource() . "?page=1 -> $status\n";
    if ($status < 200 || $status > 299) {
        echo "  $response\n";
        $ok = false;
    }
    $body = json_encode(['data' => ['name' => 'from php, ed25519']]);
    $url = $base . resource();
    [$status, $response] = http_request('POST', $url, ['Content-Type' => 'application/json'] + sign_ed25519('POST', $url, $token, $secretKey, $body), $body);
    echo "ed25519 POST " . resource() . " -> $status\n";
    if ($status < 200 || $status > 299) {
        echo "  $response\n";
        $ok = false;
    }
    return $ok ? 0 : 1;
}

function main(array $argv): int
{
    switch ($argv[1] ?? '') {
        case 'check-vectors':
            $dir = $argv[2] ?? (getenv('KEYWARD_VECTORS') ?: __DIR__ . '/../../vectors');
            return check_vectors($dir);
        case 'live':
            return live();
        case 'ed25519':
            return ed25519();
        default:
            fwrite(STDERR, "usage: php keyward_client.php check-vectors [VECTORS_DIR] | live | ed25519\n");
            return 2;
    }
}

if (PHP_SAPI === 'cli' && realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === __FILE__) {
    exit(main($argv));
}

#!/usr/bin/env node
// A small keyward client: query-hmac (DevResults) and header-hmac (Devo) signing.
//
// Node 20+, no dependencies (node:crypto and the global fetch). Import it for the signing
// functions:
//
//   import { signUrl, signHeaders } from './keyward-client.mjs';
//   const url = signUrl('https://api.example.com/api/activities?page=1', token, secret);
//   const headers = signHeaders(token, secret, body, { kind: 'domain' });
//
// or run it:
//
//   node keyward-client.mjs check-vectors [VECTORS_DIR]
//   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_SECRET=... node keyward-client.mjs live
//   KEYWARD_URL=... KEYWARD_KEY=... KEYWARD_PRIVATE_KEY_FILE=key.pem node keyward-client.mjs ed25519
//
// `ed25519` signs with RFC 9421 and an Ed25519 private key (a public-key credential: keyward
// holds only the public key; `keyward keygen` writes the private one), first reproducing RFC
// 9421's own Ed25519 example byte for byte, then against the server.
//
// The byte-level description of both schemes is docs/schemes.md.

import { createHash, createHmac, createPrivateKey, randomUUID, sign } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ORDERS = ['bytewise', 'url', 'case-insensitive'];
export const BLANK_VALUES = ['signed', 'skipped'];
export const KEY_HEADERS = {
  domain: 'x-logtrust-domain-apikey',
  reseller: 'x-logtrust-reseller-apikey',
};

/** The current Unix time in milliseconds. */
export function nowMs() {
  return Date.now();
}

/** Lower-case hex HMAC-SHA256; the key is the UTF-8 bytes of the secret string. */
export function hmacHex(secret, data) {
  return createHmac('sha256', Buffer.from(secret, 'utf8')).update(data).digest('hex');
}

// --- query-hmac ------------------------------------------------------------------------------

const isHex = (byte) =>
  (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x46) || (byte >= 0x61 && byte <= 0x66);

/**
 * Form-decode one key or value to bytes: '+' is a space, %XX (either case) is one byte, and a
 * '%' not followed by two hex digits stays a literal '%'. Nothing is re-encoded or normalised.
 * (decodeURIComponent is not usable here: it throws on '%zz' and works on UTF-16 strings.)
 */
export function decodeComponent(raw) {
  const data = Buffer.from(raw, 'utf8');
  const out = [];
  for (let i = 0; i < data.length; i++) {
    const byte = data[i];
    if (byte === 0x25 && i + 2 < data.length && isHex(data[i + 1]) && isHex(data[i + 2])) {
      out.push(parseInt(data.subarray(i + 1, i + 3).toString('latin1'), 16));
      i += 2;
    } else {
      out.push(byte === 0x2b ? 0x20 : byte);
    }
  }
  return Buffer.from(out);
}

/**
 * Parse a raw query string (the text after the first '?') into decoded [key, value] Buffer
 * pairs, in URL order. Empty segments are skipped; a segment without '=' has an empty value.
 */
export function parseQuery(query) {
  const pairs = [];
  for (const segment of query.split('&')) {
    if (segment === '') continue;
    const eq = segment.indexOf('=');
    const key = eq < 0 ? segment : segment.slice(0, eq);
    const value = eq < 0 ? '' : segment.slice(eq + 1);
    pairs.push([decodeComponent(key), decodeComponent(value)]);
  }
  return pairs;
}

const asciiLower = (buf) => Buffer.from(buf.map((b) => (b >= 0x41 && b <= 0x5a ? b + 0x20 : b)));

/**
 * The query-hmac string-to-sign of a raw query: `key|value|` for every parameter but `s`.
 *
 * order: 'bytewise' (canonical; what new clients should use), 'url' or 'case-insensitive' (a
 * stable sort by the ASCII-lower-cased key). blankValues: 'signed' (default) or 'skipped'
 * (leave out parameters whose value is empty; the server accepts that only when its operator
 * turned the option on).
 */
export function queryStringToSign(query, { order = 'bytewise', blankValues = 'signed' } = {}) {
  if (!ORDERS.includes(order)) throw new Error(`order must be one of ${ORDERS.join(', ')}`);
  if (!BLANK_VALUES.includes(blankValues)) {
    throw new Error(`blankValues must be one of ${BLANK_VALUES.join(', ')}`);
  }
  let pairs = parseQuery(query);
  const seen = new Set();
  for (const [key] of pairs) {
    const hex = key.toString('hex');
    if (seen.has(hex)) {
      throw new Error(`repeated query parameter ${key.toString('utf8')} (the server refuses it)`);
    }
    seen.add(hex);
  }
  pairs = pairs.filter(([key]) => !key.equals(Buffer.from('s')));
  if (blankValues === 'skipped') pairs = pairs.filter(([, value]) => value.length > 0);
  // Array.prototype.sort is stable, which the case-insensitive order relies on.
  if (order === 'bytewise') pairs.sort((a, b) => Buffer.compare(a[0], b[0]));
  if (order === 'case-insensitive') {
    pairs.sort((a, b) => Buffer.compare(asciiLower(a[0]), asciiLower(b[0])));
  }
  const bar = Buffer.from('|');
  return Buffer.concat(pairs.flatMap(([key, value]) => [key, bar, value, bar]));
}

/**
 * Sign a URL with query-hmac and return the signed URL.
 *
 * Appends t=<token> and ms=<ms> (ms defaults to the current time in milliseconds), signs every
 * query parameter, and appends s=<hex HMAC>. The URL may have a query or not; it must not
 * already carry t, ms or s.
 */
export function signUrl(url, token, secret, ms = nowMs(), { order = 'bytewise', blankValues = 'signed' } = {}) {
  const hashAt = url.indexOf('#');
  const fragment = hashAt < 0 ? '' : url.slice(hashAt);
  const base = hashAt < 0 ? url : url.slice(0, hashAt);
  const qAt = base.indexOf('?');
  const path = qAt < 0 ? base : base.slice(0, qAt);
  let query = qAt < 0 ? '' : base.slice(qAt + 1);
  const present = new Set(parseQuery(query).map(([key]) => key.toString('utf8')));
  for (const name of ['t', 'ms', 's']) {
    if (present.has(name)) throw new Error(`the URL already has a '${name}' query parameter`);
  }
  const added = `t=${encodeURIComponent(token)}&ms=${encodeURIComponent(String(ms))}`;
  query = query && !query.endsWith('&') ? `${query}&${added}` : query + added;
  const signature = hmacHex(secret, queryStringToSign(query, { order, blankValues }));
  return `${path}?${query}&s=${signature}${fragment}`;
}

// --- header-hmac -----------------------------------------------------------------------------

/** The header-hmac string-to-sign: apikey + body + timestamp, as raw bytes, no separators. */
export function headerStringToSign(apikey, body, timestamp) {
  const bodyBytes = body == null ? Buffer.alloc(0) : Buffer.from(body); // strings as UTF-8
  return Buffer.concat([Buffer.from(apikey, 'utf8'), bodyBytes, Buffer.from(String(timestamp), 'utf8')]);
}

/**
 * The three x-logtrust-* headers that sign a request with header-hmac.
 *
 * kind is 'domain' (x-logtrust-domain-apikey) or 'reseller' (x-logtrust-reseller-apikey).
 * timestamp defaults to the current time in milliseconds. Sign the exact body bytes you send.
 */
export function signHeaders(token, secret, body = '', { timestamp = nowMs(), kind = 'domain' } = {}) {
  if (!(kind in KEY_HEADERS)) throw new Error(`kind must be one of ${Object.keys(KEY_HEADERS).join(', ')}`);
  const ts = String(timestamp);
  return {
    [KEY_HEADERS[kind]]: token,
    'x-logtrust-timestamp': ts,
    'x-logtrust-sign': hmacHex(secret, headerStringToSign(token, body, ts)),
  };
}

// --- check-vectors ---------------------------------------------------------------------------

function defaultVectorsDir() {
  if (process.env.KEYWARD_VECTORS) return process.env.KEYWARD_VECTORS;
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'vectors');
}

/** request.txt (+ body.txt) -> { method, target, headers: [[name, value]], body }. */
function readRequest(caseDir) {
  const lines = readFileSync(join(caseDir, 'request.txt'), 'utf8').split('\n');
  const [method, target] = lines[0].split(' ');
  const headers = lines.slice(1).map((line) => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon), line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '')];
  });
  const bodyFile = join(caseDir, 'body.txt');
  const body = existsSync(bodyFile) ? readFileSync(bodyFile) : Buffer.alloc(0);
  return { method, target, headers, body };
}

const show = (buf) => JSON.stringify(buf.toString('utf8'));

/** A positive case that is not re-signed (rotation, upper-case hex) still has signature.txt:
 * it must be the HMAC of the string-to-sign under the key's secret or its previous secret. */
function checkGivenSignature(caseDir, context, computed, problems) {
  const sigFile = join(caseDir, 'signature.txt');
  if (!existsSync(sigFile)) return;
  const expected = readFileSync(sigFile, 'utf8').toLowerCase();
  const secrets = [context.key.secret, context.key.previous_secret].filter(Boolean);
  if (!secrets.some((secret) => hmacHex(secret, computed) === expected)) {
    problems.push('signature.txt is not the HMAC of the string-to-sign under any key secret');
  }
}

function checkQueryHmac(caseDir, context) {
  const { target } = readRequest(caseDir);
  const qAt = target.indexOf('?');
  const query = qAt < 0 ? '' : target.slice(qAt + 1);
  const expected = readFileSync(join(caseDir, 'string-to-sign.txt'));
  const options = context.options ?? {};
  const problems = [];
  if (context.sign) {
    const order = options.order ?? 'bytewise';
    const blankValues = options.blank_values ?? 'signed';
    const computed = queryStringToSign(query, { order, blankValues });
    if (!computed.equals(expected)) problems.push(`string-to-sign ${show(computed)} != expected ${show(expected)}`);
    const signature = hmacHex(context.key.secret, computed);
    const expectedSig = readFileSync(join(caseDir, 'signature.txt'), 'utf8');
    if (signature !== expectedSig) problems.push(`signature ${signature} != expected ${expectedSig}`);
    // The public entry point: strip t, ms and s, then signUrl must give the same s.
    if (order === 'bytewise') {
      const segments = query.split('&');
      const nameOf = (seg) => seg.split('=')[0];
      const valueOf = (name) => {
        const seg = segments.find((s) => nameOf(s) === name);
        return decodeComponent(seg.slice(name.length + 1)).toString('utf8');
      };
      const kept = segments.filter((seg) => !['t', 'ms', 's'].includes(nameOf(seg)));
      const url = `https://api.example.com${target.slice(0, qAt)}${kept.length ? `?${kept.join('&')}` : ''}`;
      const signed = signUrl(url, valueOf('t'), context.key.secret, valueOf('ms'), { blankValues });
      const s = signed.slice(signed.lastIndexOf('&s=') + 3);
      if (s !== expectedSig) problems.push(`signUrl gave s=${s}, expected ${expectedSig}`);
    }
  } else {
    const computed = queryStringToSign(query);
    if (!computed.equals(expected)) problems.push(`string-to-sign ${show(computed)} != expected ${show(expected)}`);
    checkGivenSignature(caseDir, context, computed, problems);
  }
  return problems;
}

function checkHeaderHmac(caseDir, context) {
  const { headers, body } = readRequest(caseDir);
  const fields = Object.fromEntries(headers.map(([name, value]) => [name.toLowerCase(), value]));
  const keyHeader = ['x-logtrust-domain-apikey', 'x-logtrust-reseller-apikey', 'x-logtrust-apikey'].find(
    (name) => name in fields,
  );
  const apikey = fields[keyHeader];
  const timestamp = fields['x-logtrust-timestamp'];
  const expected = readFileSync(join(caseDir, 'string-to-sign.txt'));
  const computed = headerStringToSign(apikey, body, timestamp);
  const problems = [];
  if (!computed.equals(expected)) problems.push(`string-to-sign ${show(computed)} != expected ${show(expected)}`);
  if (context.sign) {
    const kind = keyHeader === 'x-logtrust-reseller-apikey' ? 'reseller' : 'domain';
    const signed = signHeaders(apikey, context.key.secret, body, { timestamp, kind });
    const expectedSig = readFileSync(join(caseDir, 'signature.txt'), 'utf8');
    if (signed['x-logtrust-sign'] !== expectedSig) {
      problems.push(`signature ${signed['x-logtrust-sign']} != expected ${expectedSig}`);
    }
    if (signed['x-logtrust-sign'] !== fields['x-logtrust-sign']) {
      problems.push('signature differs from the x-logtrust-sign header of request.txt');
    }
    if (keyHeader !== 'x-logtrust-apikey' && !(keyHeader in signed)) {
      problems.push(`signHeaders did not produce ${keyHeader}`);
    }
  } else {
    checkGivenSignature(caseDir, context, computed, problems);
  }
  return problems;
}

export function checkVectors(vectorsDir) {
  const checkers = { 'query-hmac': checkQueryHmac, 'header-hmac': checkHeaderHmac };
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const [scheme, checker] of Object.entries(checkers)) {
    const schemeDir = join(vectorsDir, scheme);
    if (!existsSync(schemeDir) || !statSync(schemeDir).isDirectory()) {
      console.log(`FAIL ${scheme}: no directory ${schemeDir}`);
      failed++;
      continue;
    }
    const cases = readdirSync(schemeDir)
      .filter((name) => statSync(join(schemeDir, name)).isDirectory())
      .sort();
    for (const name of cases) {
      const caseDir = join(schemeDir, name);
      if (!existsSync(join(caseDir, 'string-to-sign.txt'))) {
        skipped++; // negative case refused before the server computes anything
        continue;
      }
      let problems;
      try {
        const context = JSON.parse(readFileSync(join(caseDir, 'context.json'), 'utf8'));
        problems = checker(caseDir, context);
      } catch (error) {
        problems = [`${error.name}: ${error.message}`]; // a broken case is a failure, not a crash
      }
      for (const problem of problems) console.log(`FAIL ${scheme}/${name}: ${problem}`);
      if (problems.length) failed++;
      else passed++;
    }
  }
  console.log(`(${skipped} negative cases have no string-to-sign.txt and were not checked)`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed === 0 && passed > 0 ? 0 : 1;
}

// --- live ------------------------------------------------------------------------------------

// A plain API key (`kwapi_...`, a key of type api-key) needs no signing: it is sent as is, in
// X-API-Key or as a bearer token. Over HTTPS only: whoever sees it can use it.
async function apiKey() {
  const { KEYWARD_URL, KEYWARD_API_KEY: key } = process.env;
  if (!KEYWARD_URL || !key) {
    console.log('set KEYWARD_URL and KEYWARD_API_KEY');
    return 2;
  }
  const base = KEYWARD_URL.replace(/\/+$/, '');
  let ok = true;
  for (const [header, value] of [['X-API-Key', key], ['Authorization', `Bearer ${key}`]]) {
    const response = await fetch(`${base}${resource()}?page=1`, {
      headers: { [header]: value, Accept: 'application/json' },
    });
    console.log(`api-key     GET  ${resource()}?page=1 (${header}) -> ${response.status}`);
    if (response.status !== 200) {
      console.log(`  ${await response.text()}`);
      ok = false;
    }
  }
  return ok ? 0 : 1;
}

// The path the live commands call: KEYWARD_PATH, below KEYWARD_URL [default: /api/activities,
// keyward's sample resource].
function resource() {
  return process.env.KEYWARD_PATH || '/api/activities';
}

async function live() {
  const { KEYWARD_URL, KEYWARD_KEY: token, KEYWARD_SECRET: secret } = process.env;
  if (!KEYWARD_URL || !token || !secret) {
    console.log('set KEYWARD_URL, KEYWARD_KEY and KEYWARD_SECRET');
    return 2;
  }
  const base = KEYWARD_URL.replace(/\/+$/, '');
  let ok = true;

  const url = signUrl(`${base}${resource()}?page=1`, token, secret, nowMs());
  let response = await fetch(url, { headers: { Accept: 'application/json' } });
  console.log(`query-hmac  GET  ${resource()}?page=1 -> ${response.status}`);
  if (!response.ok) {
    console.log(`  ${await response.text()}`);
    ok = false;
  }

  const body = Buffer.from(JSON.stringify({ data: { name: 'from node' } }), 'utf8');
  response = await fetch(`${base}${resource()}`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      Accept: 'application/json',
      ...signHeaders(token, secret, body, { timestamp: nowMs(), kind: 'domain' }),
    },
    body,
  });
  console.log(`header-hmac POST ${resource()} -> ${response.status}`);
  if (!response.ok) {
    console.log(`  ${await response.text()}`);
    ok = false;
  }
  return ok ? 0 : 1;
}

// --- ed25519 (RFC 9421 with a private key) -----------------------------------------------------

/** Signs `base` (the RFC 9421 signature base) with an Ed25519 private key, base64. */
export function ed25519Signature(privateKey, base) {
  return sign(null, Buffer.from(base, 'utf8'), privateKey).toString('base64');
}

/**
 * The headers that sign `method url` (and `body`) for keyid `token` with an Ed25519 key:
 * Content-Digest (with a body), Signature-Input and Signature, over @method, @authority,
 * @path, @query (with a query) and content-digest.
 */
export function signEd25519(method, url, token, privateKey, body = null) {
  const target = new URL(url);
  const headers = {};
  const lines = [`"@method": ${method}`, `"@authority": ${target.host.toLowerCase()}`, `"@path": ${target.pathname}`];
  const components = ['"@method"', '"@authority"', '"@path"'];
  if (target.search) {
    lines.push(`"@query": ${target.search}`);
    components.push('"@query"');
  }
  if (body && body.length) {
    headers['Content-Digest'] = `sha-256=:${createHash('sha256').update(body).digest('base64')}:`;
    lines.push(`"content-digest": ${headers['Content-Digest']}`);
    components.push('"content-digest"');
  }
  const created = Math.floor(Date.now() / 1000);
  const params = `(${components.join(' ')});created=${created};keyid="${token}";alg="ed25519";nonce="${randomUUID()}"`;
  lines.push(`"@signature-params": ${params}`);
  headers['Signature-Input'] = `sig1=${params}`;
  headers.Signature = `sig1=:${ed25519Signature(privateKey, lines.join('\n'))}:`;
  return headers;
}

async function ed25519() {
  // RFC 9421 Appendix B.2.6, reproduced: Ed25519 is deterministic.
  const vector = join(defaultVectorsDir(), 'http-signature', 'rfc9421-b26');
  const context = JSON.parse(readFileSync(join(vector, 'context.json'), 'utf8'));
  const expected = readFileSync(join(vector, 'signature.txt'), 'utf8');
  const produced = `sig-b26=:${ed25519Signature(createPrivateKey(context.key.private_key), readFileSync(join(vector, 'signature-base.txt'), 'utf8'))}:`;
  console.log(`RFC 9421 B.2.6 ${produced === expected ? 'reproduced' : `differs: ${produced}`}`);
  let ok = produced === expected;

  const { KEYWARD_URL, KEYWARD_KEY: token, KEYWARD_PRIVATE_KEY_FILE: keyFile } = process.env;
  if (!KEYWARD_URL || !token || !keyFile) {
    console.log('set KEYWARD_URL, KEYWARD_KEY and KEYWARD_PRIVATE_KEY_FILE');
    return 2;
  }
  const base = KEYWARD_URL.replace(/\/+$/, '');
  const privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'));
  let url = `${base}${resource()}?page=1`;
  let response = await fetch(url, { headers: { Accept: 'application/json', ...signEd25519('GET', url, token, privateKey) } });
  console.log(`ed25519 GET  ${resource()}?page=1 -> ${response.status}`);
  if (!response.ok) {
    console.log(`  ${await response.text()}`);
    ok = false;
  }
  const body = Buffer.from(JSON.stringify({ data: { name: 'from node, ed25519' } }), 'utf8');
  url = `${base}${resource()}`;
  response = await fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...signEd25519('POST', url, token, privateKey, body) },
    body,
  });
  console.log(`ed25519 POST ${resource()} -> ${response.status}`);
  if (!response.ok) {
    console.log(`  ${await response.text()}`);
    ok = false;
  }
  return ok ? 0 : 1;
}

async function main(args) {
  if (args[0] === 'check-vectors' && args.length <= 2) return checkVectors(args[1] ?? defaultVectorsDir());
  if (args.length === 1 && args[0] === 'live') return live();
  if (args.length === 1 && args[0] === 'ed25519') return ed25519();
  if (args.length === 1 && args[0] === 'api-key') return apiKey();
  console.error('usage: keyward-client.mjs check-vectors [VECTORS_DIR] | live | ed25519 | api-key');
  return 2;
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main(process.argv.slice(2));
}

// Drives the keyward admin console in a real Chromium, and checks what it shows against the API.
//
//   KEYWARD_URL=http://127.0.0.1:8080 ADMIN_PASSWORD=... node tests/browser/console.test.mjs
//
// Environment: KEYWARD_URL (a running keyward with the admin user `admin`), ADMIN_PASSWORD,
// SCREENSHOT_DIR (default tests/browser/screenshots), CHROMIUM (default /usr/bin/chromium).
// One line per step; the first failure stops the run with a non-zero exit status.

import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomUUID, sign as signWith } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const BASE = (process.env.KEYWARD_URL || 'http://127.0.0.1:8080').replace(/\/+$/, '');
const ADMIN_PASSWORD = process.env.ADMIN_PASSWORD;
const SCREENSHOT_DIR = path.resolve(process.env.SCREENSHOT_DIR || path.join(here, 'screenshots'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// A public key file (from `keyward keygen`) to upload; the test prints the key's token, and the
// Rust side signs with the private key from the CLI.
const PUBLIC_KEY_FILE = process.env.PUBLIC_KEY_FILE;

const KEY_NAME = 'Browser test';
const VIEWER = 'viewer';
const VIEWER_PASSWORD = 'viewer-browser-test-password';
const ACTIVITY_BODY = JSON.stringify({ data: { name: 'from the browser test' } });
const EXPECTED_CSP_PARTS = ["default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"];

if (!ADMIN_PASSWORD) {
  console.error('ADMIN_PASSWORD is not set: give the password of the keyward user admin.');
  process.exit(2);
}
mkdirSync(SCREENSHOT_DIR, { recursive: true });

let passed = 0;
let failed = 0;
const screenshots = [];
let browser;
let page;

async function step(name, body) {
  const number = passed + failed + 1;
  try {
    const note = await body();
    passed += 1;
    console.log(`ok ${number} - ${name}${note ? ` (${note})` : ''}`);
  } catch (error) {
    failed += 1;
    console.log(`not ok ${number} - ${name}`);
    console.log(`  ${String(error && error.stack ? error.stack : error).split('\n').join('\n  ')}`);
    if (page) {
      try {
        const file = path.join(SCREENSHOT_DIR, 'failure.png');
        await page.screenshot({ path: file, fullPage: true });
        console.log(`  screenshot of the failure: ${file}`);
      } catch {
        // The page may be gone.
      }
    }
    await finish();
  }
}

async function finish() {
  if (browser) await browser.close().catch(() => {});
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

async function shot(name) {
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
  console.log(`  screenshot: ${file}`);
  return file;
}

// A header-hmac (Devo) request, signed anew each time: a replayed signature is refused.
async function signedActivity(token, secret) {
  const timestamp = String(Date.now());
  const sign = createHmac('sha256', secret).update(token + ACTIVITY_BODY + timestamp).digest('hex');
  const response = await fetch(`${BASE}/api/activities`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'x-logtrust-domain-apikey': token,
      'x-logtrust-timestamp': timestamp,
      'x-logtrust-sign': sign,
    },
    body: ACTIVITY_BODY,
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, json, text };
}

// A GET signed with RFC 9421 by a private key (node's own crypto), as an application would.
async function signedWithPrivateKey(privateKey, alg, token, path) {
  const url = new URL(`${BASE}${path}`);
  const created = Math.floor(Date.now() / 1000);
  const params = `("@method" "@authority" "@path");created=${created};keyid="${token}";alg="${alg}";nonce="${randomUUID()}"`;
  const base = `"@method": GET\n"@authority": ${url.host}\n"@path": ${url.pathname}\n"@signature-params": ${params}`;
  const signature = signWith('sha256', Buffer.from(base), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const response = await fetch(url, {
    headers: { 'Signature-Input': `sig1=${params}`, Signature: `sig1=:${signature.toString('base64')}:` },
  });
  const text = await response.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: response.status, json, text };
}

// fetch from inside the page, with its session cookie; csrf: send X-CSRF-Token from kw_csrf.
async function pageFetch(method, url, body, { csrf = true } = {}) {
  return page.evaluate(async ({ method, url, body, csrf }) => {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (csrf) {
      const cookie = document.cookie.split(';').map((c) => c.trim()).find((c) => c.startsWith('kw_csrf='));
      if (cookie) headers['X-CSRF-Token'] = cookie.slice('kw_csrf='.length);
    }
    const response = await fetch(url, {
      method,
      credentials: 'same-origin',
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: response.status, json, text };
  }, { method, url, body, csrf });
}

async function signIn(username, password) {
  await page.goto(`${BASE}/console/`);
  const form = page.getByTestId('sign-in-form');
  await form.waitFor({ state: 'visible' });
  await page.getByTestId('username').fill(username);
  await page.getByTestId('password').fill(password);
  await page.getByTestId('sign-in').click();
  await page.getByTestId('account-name').filter({ hasText: username }).waitFor({ state: 'visible' });
}

async function signOut() {
  await page.getByTestId('sign-out').click();
  await page.getByTestId('sign-in-form').waitFor({ state: 'visible' });
}

async function keyIdFromUrl() {
  await page.waitForURL(/#\/keys\/\d+$/);
  return Number(new URL(page.url()).hash.match(/^#\/keys\/(\d+)$/)[1]);
}

async function text(testId) {
  return (await page.getByTestId(testId).textContent()).trim();
}

// ---------------------------------------------------------------------------------------------

console.log(`keyward console browser test against ${BASE}`);
console.log(`Chromium: ${CHROMIUM}; screenshots in ${SCREENSHOT_DIR}`);

const problems = [];
let token;
let secret;
let keyId;
let newToken;
let viewerKeyId;
let viewerKeySecret;

await step('launch Chromium', async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({
    viewport: { width: 1280, height: 860 },
    permissions: ['clipboard-read', 'clipboard-write'],
  });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  // Script errors and Content-Security-Policy violations fail the run at the end.
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
  });
  return browser.version();
});

await step('1. the console loads under its Content-Security-Policy and shows the sign-in form', async () => {
  const response = await page.goto(`${BASE}/console/`);
  assert.equal(response.status(), 200, 'GET /console/ answers 200');
  const csp = response.headers()['content-security-policy'] || '';
  for (const part of EXPECTED_CSP_PARTS) assert.ok(csp.includes(part), `CSP has ${part}: ${csp}`);
  await page.getByTestId('sign-in-form').waitFor({ state: 'visible' });
  // The app script ran (the form is shown by it) and focused the user name.
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  assert.equal(focused, 'sign-in-username', 'the user name field has focus');
  await shot('01-sign-in');
});

await step('1. a wrong password is refused with a message in role="alert"', async () => {
  await page.getByTestId('username').fill('admin');
  await page.getByTestId('password').fill('not the password');
  await page.getByTestId('sign-in').click();
  const alert = page.getByRole('alert').filter({ hasText: /\S/ });
  await alert.waitFor({ state: 'visible' });
  const message = (await alert.textContent()).trim();
  assert.match(message, /password/i, `the alert says why: ${message}`);
  assert.match(message, /21/, 'the alert carries error code 21');
  return message;
});

await step('1. sign in as admin with the keyboard; the API Keys page opens', async () => {
  await page.getByTestId('username').fill('');
  await page.getByTestId('username').focus();
  await page.keyboard.type('admin');
  await page.keyboard.press('Tab');
  await page.keyboard.type(ADMIN_PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByTestId('account-name').filter({ hasText: 'admin' }).waitFor({ state: 'visible' });
  await page.waitForURL(/#\/keys$/);
  await page.getByRole('heading', { level: 1, name: 'API Keys' }).waitFor();
  await page.getByTestId('new-key').waitFor({ state: 'visible' });
  assert.equal(await page.getByTestId('error').textContent(), '', 'no error shown');
  const cookies = await page.context().cookies(`${BASE}/console/`);
  const session = cookies.find((c) => c.name === 'kw_session');
  const csrf = cookies.find((c) => c.name === 'kw_csrf');
  assert.ok(session && session.httpOnly, 'kw_session is set and HttpOnly');
  assert.ok(csrf && !csrf.httpOnly, 'kw_csrf is set and readable');
  const readable = await page.evaluate(() => document.cookie);
  assert.ok(!readable.includes('kw_session='), 'the page cannot read kw_session');
  // Scoped to the console: the browser sends the session to no other path of the host (an API
  // behind keyward never sees it), and the API's own paths take no session.
  assert.equal(session.path, '/console/', 'kw_session is scoped to /console/');
  assert.equal(csrf.path, '/console/', 'kw_csrf is scoped to /console/');
  const outside = await pageFetch('GET', '/api/admin/keys');
  assert.equal(outside.status, 401, outside.text);
  assert.equal(outside.json.error.code, 10, 'no credentials reach /api/admin from the console');
  await shot('02-keys');
});

await step('2. create key "Browser test" (activities:read, activities:write) in the New API Key dialog', async () => {
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.waitFor({ state: 'visible' });
  assert.equal(await dialog.evaluate((d) => d.open && d.matches(':modal')), true, 'the dialog is modal');
  // Only the permissions the signed-in user may grant are offered; admin holds *, so it may
  // grant * and each of keyward's seven.
  const offered = await dialog.locator('input[type=checkbox]').evaluateAll((boxes) => boxes.map((b) => b.value));
  assert.deepEqual(offered, ['*', 'activities:read', 'activities:write', 'keys:manage', 'keys:reveal',
    'users:manage', 'audit:read', 'keys:verify'], 'admin is offered * and the seven permissions');
  await dialog.getByLabel('Application name').fill(KEY_NAME);
  await dialog.getByTestId('permission-activities:read').check();
  await dialog.getByTestId('permission-activities:write').check();
  await shot('03-new-key-dialog');
  await dialog.getByTestId('confirm').click();
  keyId = await keyIdFromUrl();
  await page.getByTestId('key-secret').waitFor({ state: 'visible' });
  assert.equal(await text('key-name'), KEY_NAME);
  token = await text('key-token');
  secret = await text('key-secret');
  assert.match(token, /^kwkey_\S+$/, `a token is shown: ${token}`);
  assert.match(secret, /^kwsec_\S+$/, 'a secret is shown');
  await shot('04-key-created');
  return `key ${keyId}, token ${token.slice(0, 12)}…`;
});

await step('2. the Copy buttons copy the token and the secret, with a visible "Copied" notice', async () => {
  await page.getByTestId('copy-token').click();
  await page.getByTestId('notice').filter({ hasText: 'Copied' }).waitFor({ state: 'visible' });
  const copiedToken = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copiedToken, token, 'the clipboard holds the token');
  await page.getByTestId('copy-secret').click();
  await page.getByTestId('notice').filter({ hasText: 'Copied secret' }).waitFor({ state: 'visible' });
  const copiedSecret = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copiedSecret, secret, 'the clipboard holds the secret');
});

await step('2. the keys list shows the key with its token prefix; the secret is not shown again', async () => {
  await page.getByTestId('back-to-keys').click();
  const row = page.locator(`[data-testid="key-row"][data-key-id="${keyId}"]`);
  await row.waitFor({ state: 'visible' });
  const rowText = await row.textContent();
  assert.ok(rowText.includes(KEY_NAME), 'the row names the key');
  assert.ok(rowText.includes(`${token.slice(0, 12)}…`), 'the row shows the first 12 characters of the token and …');
  assert.ok(!rowText.includes(token), 'the row does not show the whole token');
  await row.getByTestId('key-link').click();
  await page.getByTestId('key-token').waitFor({ state: 'visible' });
  assert.equal(await page.getByTestId('key-secret').count(), 0, 'no secret on a second visit');
  await page.getByTestId('reveal-secret').waitFor({ state: 'visible' });
});

await step('3. a header-hmac request signed with the token and secret read from the page → 201', async () => {
  const answer = await signedActivity(token, secret);
  assert.equal(answer.status, 201, `POST /api/activities: ${answer.text}`);
  return `activity ${answer.json && answer.json.data ? answer.json.data.id : '?'}`;
});

await step('4. Regenerate token, confirmed in a dialog that warns the old token stops at once', async () => {
  await page.getByTestId('regenerate-token').click();
  const dialog = page.getByTestId('regenerate-dialog');
  await dialog.waitFor({ state: 'visible' });
  assert.match(await dialog.textContent(), /stops working at once/);
  await shot('05-regenerate-confirm');
  await dialog.getByTestId('confirm').click();
  await dialog.waitFor({ state: 'detached' });
  await page.waitForFunction((old) => {
    const el = document.querySelector('[data-testid="key-token"]');
    return el && el.textContent.trim() !== old;
  }, token);
  newToken = await text('key-token');
  assert.match(newToken, /^kwkey_\S+$/);
  assert.notEqual(newToken, token);
  return `new token ${newToken.slice(0, 12)}…`;
});

await step('4. the old token is refused (401), the new one works (201)', async () => {
  const old = await signedActivity(token, secret);
  assert.equal(old.status, 401, `old token: ${old.text}`);
  assert.equal(old.json && old.json.error && old.json.error.code, 13, 'code 13: unknown, revoked or disabled');
  const fresh = await signedActivity(newToken, secret);
  assert.equal(fresh.status, 201, `new token: ${fresh.text}`);
});

await step('5. Revoke, confirmed; a request with the new token is then refused (401)', async () => {
  await page.getByTestId('revoke').click();
  const dialog = page.getByTestId('revoke-dialog');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByTestId('confirm').click();
  await page.getByTestId('key-state').filter({ hasText: 'revoked' }).waitFor();
  assert.equal(await page.getByTestId('revoke').count(), 0, 'no Revoke button on a revoked key');
  const answer = await signedActivity(newToken, secret);
  assert.equal(answer.status, 401, `revoked key: ${answer.text}`);
  assert.equal(answer.json && answer.json.error && answer.json.error.code, 13);
  await shot('06-key-revoked');
});

await step('6. admin (keys:reveal) sees Reveal secret on an active key, and it reveals the secret', async () => {
  await page.goto(`${BASE}/console/#/keys`);
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.getByLabel('Application name').fill('Viewer check');
  await dialog.getByTestId('permission-activities:read').check();
  await dialog.getByTestId('confirm').click();
  viewerKeyId = await keyIdFromUrl();
  viewerKeySecret = await text('key-secret');
  await page.goto(`${BASE}/console/#/keys`);
  await page.locator(`[data-testid="key-row"][data-key-id="${viewerKeyId}"]`).getByTestId('key-link').click();
  await page.getByTestId('reveal-secret').click();
  await page.getByTestId('key-secret').waitFor({ state: 'visible' });
  assert.equal(await text('key-secret'), viewerKeySecret, 'the revealed secret is the one shown at creation');
});

await step('6. create user "viewer" with keys:manage only, on the Users page', async () => {
  await page.getByTestId('nav-users').click();
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  const existing = page.locator(`[data-testid="user-row"][data-username="${VIEWER}"]`);
  if (await existing.count()) {
    // A run before this one created the user: give it this run's password and permissions.
    const users = await pageFetch('GET', '/console/api/admin/users');
    const user = users.json.data.find((u) => u.username === VIEWER);
    const changed = await pageFetch('PATCH', `/console/api/admin/users/${user.id}`,
      { data: { password: VIEWER_PASSWORD, permissions: ['keys:manage'], state: 'active' } });
    assert.equal(changed.status, 200, changed.text);
    return 'the user existed; reset through the API';
  }
  const form = page.getByTestId('new-user-form');
  await form.getByLabel('User name').fill(VIEWER);
  await form.getByLabel('Password').fill(VIEWER_PASSWORD);
  await form.getByTestId('permission-keys:manage').check();
  await form.getByTestId('create-user').click();
  const row = page.locator(`[data-testid="user-row"][data-username="${VIEWER}"]`);
  await row.waitFor({ state: 'visible' });
  const rowText = await row.textContent();
  assert.ok(rowText.includes('keys:manage') && !rowText.includes('keys:reveal'), `permissions: ${rowText}`);
});

await step('6. sign out; the session is gone', async () => {
  await signOut();
  const session = await pageFetch('GET', '/console/session');
  assert.equal(session.status, 401, 'GET /console/session after signing out');
  const cookies = await page.context().cookies(`${BASE}/console/`);
  assert.ok(!cookies.some((c) => c.name === 'kw_session' && c.value), 'kw_session cleared');
});

await step('6. as viewer (no keys:reveal): no Reveal button and no secret on a key\'s page', async () => {
  await signIn(VIEWER, VIEWER_PASSWORD);
  assert.equal(await page.getByTestId('nav-users').isVisible(), false, 'no Users link without users:manage');
  assert.equal(await page.getByTestId('nav-audit').isVisible(), false, 'no Audit link without audit:read');
  await page.goto(`${BASE}/console/#/keys`);
  const row = page.locator(`[data-testid="key-row"][data-key-id="${viewerKeyId}"]`);
  await row.getByTestId('key-link').click();
  await page.getByTestId('key-token').waitFor({ state: 'visible' });
  await page.getByTestId('secret-hidden').waitFor({ state: 'visible' });
  assert.equal(await page.getByTestId('reveal-secret').count(), 0, 'no Reveal secret button');
  assert.equal(await page.getByTestId('key-secret').count(), 0, 'no secret element');
  const body = await page.locator('body').textContent();
  assert.ok(!body.includes(viewerKeySecret), 'the secret is nowhere on the page');
  await shot('07-viewer-key-details');
  // The server agrees: reveal is refused with code 20 even when asked directly.
  const reveal = await pageFetch('POST', `/console/api/admin/keys/${viewerKeyId}/reveal`);
  assert.equal(reveal.status, 403, reveal.text);
  assert.equal(reveal.json.error.code, 20);
});

await step('6. as viewer, New API Key offers only the permissions the viewer holds', async () => {
  await page.getByTestId('back-to-keys').click();
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.waitFor({ state: 'visible' });
  const offered = await dialog.locator('input[type=checkbox]').evaluateAll((boxes) => boxes.map((b) => b.value));
  assert.deepEqual(offered, ['keys:manage']);
  await dialog.getByTestId('cancel').click();
  await dialog.waitFor({ state: 'detached' });
  await signOut();
});

await step('7. a POST without X-CSRF-Token, with the session cookie, is refused: 403, code 23', async () => {
  await signIn('admin', ADMIN_PASSWORD);
  const forged = await pageFetch('POST', '/console/api/admin/keys',
    { data: { name: 'forged by fetch', permissions: ['activities:read'] } }, { csrf: false });
  assert.equal(forged.status, 403, forged.text);
  assert.equal(forged.json && forged.json.error && forged.json.error.code, 23, forged.text);
  const wrong = await page.evaluate(async () => {
    const response = await fetch('/console/api/admin/keys', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': 'kwat_not-the-cookie' },
      body: JSON.stringify({ data: { name: 'forged by fetch', permissions: [] } }),
    });
    return { status: response.status, json: await response.json() };
  });
  assert.equal(wrong.status, 403, 'a wrong X-CSRF-Token is refused too');
  assert.equal(wrong.json.error.code, 23);
  // The control: the same request with the header is accepted, so the header is what mattered.
  const genuine = await pageFetch('POST', '/console/api/admin/keys', { data: { name: 'CSRF control', permissions: [] } });
  assert.equal(genuine.status, 201, genuine.text);
  await pageFetch('DELETE', `/console/api/admin/keys/${genuine.json.data.id}`);
  const keys = await pageFetch('GET', '/console/api/admin/keys');
  assert.ok(!keys.json.data.some((k) => k.name === 'forged by fetch'), 'no forged key exists');
  return `"${forged.json.error.message}"`;
});

await step('7. a classic HTML form POST (text/plain, JSON-shaped) to /console/api/admin/keys is refused: 403, code 23', async () => {
  await page.goto(`${BASE}/console/#/keys`);
  await page.getByTestId('new-key').waitFor();
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/console/api/admin/keys` && r.request().method() === 'POST'),
    page.evaluate(() => {
      const form = document.createElement('form');
      form.method = 'POST';
      form.action = '/console/api/admin/keys';
      form.enctype = 'text/plain';
      const input = document.createElement('input');
      input.type = 'hidden';
      // text/plain sends name=value: this makes {"data":{"name":"forged by form","x":"="}}
      input.name = '{"data":{"name":"forged by form","x":"';
      input.value = '"}}';
      form.appendChild(input);
      document.body.appendChild(form);
      form.submit();
    }),
  ]);
  assert.equal(response.status(), 403, 'the forged form post is refused');
  const body = await response.json();
  assert.equal(body.error.code, 23);
  await page.goto(`${BASE}/console/#/keys`);
  const keys = await pageFetch('GET', '/console/api/admin/keys');
  assert.ok(!keys.json.data.some((k) => k.name === 'forged by form'), 'no forged key exists');
});

await step('7. a classic HTML form POST to /console/session (login CSRF) does not sign anyone in', async () => {
  const context = await browser.newContext();
  const other = await context.newPage();
  try {
    await other.goto(`${BASE}/console/`);
    const [response] = await Promise.all([
      other.waitForResponse((r) => r.url() === `${BASE}/console/session` && r.request().method() === 'POST'),
      other.evaluate(({ password }) => {
        const form = document.createElement('form');
        form.method = 'POST';
        form.action = '/console/session';
        form.enctype = 'text/plain';
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = `{"username":"admin","password":"${password}","x":"`;
        input.value = '"}';
        form.appendChild(input);
        document.body.appendChild(form);
        form.submit();
      }, { password: ADMIN_PASSWORD }),
    ]);
    assert.ok(response.status() >= 400, `refused, status ${response.status()}`);
    const cookies = await context.cookies(`${BASE}/console/`);
    assert.ok(!cookies.some((c) => c.name === 'kw_session'), 'no session cookie was set');
    let code = '';
    try { code = (await response.json()).error.code; } catch { /* not JSON */ }
    return `status ${response.status()}, code ${code}`;
  } finally {
    await context.close();
  }
});

await step('8. the Users page (as admin)', async () => {
  await page.goto(`${BASE}/console/#/users`);
  await page.getByRole('heading', { level: 1, name: 'Users' }).waitFor();
  await page.locator(`[data-testid="user-row"][data-username="${VIEWER}"]`).waitFor();
  await page.locator('[data-testid="user-row"][data-username="admin"]').waitFor();
  await shot('08-users');
});

await step('8. the Audit page (as admin): records, the application filter, paging', async () => {
  await page.getByTestId('nav-audit').click();
  await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
  await page.getByTestId('audit-table').waitFor();
  assert.ok(await page.getByTestId('audit-row').count() > 0, 'records are listed');
  const status = await text('audit-page');
  assert.match(status, /^Page 1 of \d+/);
  assert.equal(await page.getByTestId('audit-previous').isDisabled(), true, 'no previous page on page 1');
  await shot('09-audit');
  if (await page.getByTestId('audit-next').isEnabled()) {
    await page.getByTestId('audit-next').click();
    await page.getByTestId('audit-page').filter({ hasText: /^Page 2 of/ }).waitFor();
    await page.getByTestId('audit-previous').click();
    await page.getByTestId('audit-page').filter({ hasText: /^Page 1 of/ }).waitFor();
  }
  await page.getByTestId('audit-application').fill(KEY_NAME);
  await page.getByTestId('audit-filter').click();
  await page.waitForURL(/#\/audit\?application=Browser%20test$/);
  await page.getByTestId('audit-page').waitFor();
  // The filtered page replaces the unfiltered one after its request returns: wait for it
  // (up to 5 s) rather than read the rows of whichever page is on screen.
  let rows = [];
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await page.waitForTimeout(100)) {
    rows = await page.getByTestId('audit-row').allTextContents();
    if (rows.length > 0 && rows.every((r) => r.includes(KEY_NAME))) break;
  }
  assert.ok(rows.length > 0, 'the key\'s requests are in the audit log under its application name');
  assert.ok(rows.every((r) => r.includes(KEY_NAME)), 'every row is the application\'s');
  await shot('10-audit-filtered');
  return `${status}; ${rows.length} record(s) for "${KEY_NAME}"`;
});

await step('9. a key\'s page shows no rate limit and unlimited credits; the Limits form sets 5 / 60 s and 100 credits refilled every hour', async () => {
  await page.goto(`${BASE}/console/#/keys/${viewerKeyId}`);
  const form = page.getByTestId('limits-form');
  await form.waitFor({ state: 'visible' });
  assert.equal(await text('key-rate-limit'), 'none');
  assert.equal(await text('key-credits'), 'unlimited');
  await form.getByLabel('Requests').fill('5');
  await form.getByTestId('limit-window').fill('60');
  await form.getByTestId('limit-credits').fill('100');
  await form.getByTestId('limit-refill-amount').fill('100');
  await form.getByTestId('limit-refill-interval').fill('3600');
  await form.getByTestId('save-limits').click();
  await page.getByTestId('key-rate-limit').filter({ hasText: '5 / 60 s' }).waitFor();
  await page.getByTestId('key-credits').filter({ hasText: '100 left, refilled to 100 every 3600 s' }).waitFor();
  assert.equal(await text('error'), '', 'no error shown');
  // The form shows the saved values again.
  assert.equal(await form.getByTestId('limit-requests').inputValue(), '5');
  assert.equal(await form.getByTestId('limit-refill-interval').inputValue(), '3600');
  await shot('11-key-limits');
});

await step('9. the API agrees: the key\'s JSON has the rate limit and credits set in the console', async () => {
  const key = await pageFetch('GET', `/console/api/admin/keys/${viewerKeyId}`);
  assert.equal(key.status, 200, key.text);
  assert.deepEqual(key.json.data.rate_limit, { requests: 5, window_seconds: 60 }, key.text);
  assert.deepEqual(key.json.data.credits, { remaining: 100, refill: { amount: 100, interval_seconds: 3600 } }, key.text);
  await page.getByTestId('back-to-keys').click();
  const row = page.locator(`[data-testid="key-row"][data-key-id="${viewerKeyId}"]`);
  await row.waitFor({ state: 'visible' });
  assert.equal((await row.getByTestId('key-rate-limit').textContent()).trim(), '5 / 60 s');
  assert.equal((await row.getByTestId('key-credits').textContent()).trim(), '100 left, refilled to 100 every 3600 s');
});

await step('9. a rate limit of 0 requests is refused: the error is shown, nothing changes', async () => {
  await page.locator(`[data-testid="key-row"][data-key-id="${viewerKeyId}"]`).getByTestId('key-link').click();
  const form = page.getByTestId('limits-form');
  await form.waitFor({ state: 'visible' });
  await form.getByTestId('limit-requests').fill('0');
  await form.getByTestId('save-limits').click();
  const alert = page.getByTestId('error').filter({ hasText: /\S/ });
  await alert.waitFor({ state: 'visible' });
  const message = (await alert.textContent()).trim();
  assert.match(message, /rate_limit/, `the error names the field: ${message}`);
  assert.match(message, /31/, 'the error carries code 31');
  assert.equal(await text('notice'), '', 'no "saved" notice beside the error');
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.getAttribute('data-testid'));
  assert.equal(focused, 'limit-requests', 'the requests field has focus');
  assert.equal(await text('key-rate-limit'), '5 / 60 s', 'the page still shows the saved limit');
  const key = await pageFetch('GET', `/console/api/admin/keys/${viewerKeyId}`);
  assert.deepEqual(key.json.data.rate_limit, { requests: 5, window_seconds: 60 }, 'the key is unchanged');
  await shot('12-key-limits-error');
  return `"${message}"`;
});

await step('9. emptying the fields removes the rate limit and the credits', async () => {
  const form = page.getByTestId('limits-form');
  await form.getByTestId('limit-requests').fill('');
  for (const id of ['limit-credits', 'limit-refill-amount', 'limit-refill-interval']) await form.getByTestId(id).fill('');
  await form.getByTestId('save-limits').click();
  await page.getByTestId('key-rate-limit').filter({ hasText: 'none' }).waitFor();
  await page.getByTestId('key-credits').filter({ hasText: 'unlimited' }).waitFor();
  assert.equal(await text('error'), '', 'the earlier error is gone');
  const key = await pageFetch('GET', `/console/api/admin/keys/${viewerKeyId}`);
  assert.equal(key.json.data.rate_limit, null, key.text);
  assert.equal(key.json.data.credits, null, key.text);
});

await step('9. New API Key can set limits: 10 requests per 60 s (the default window), a refill of 50 every 60 s', async () => {
  await page.getByTestId('back-to-keys').click();
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByLabel('Application name').fill('Limited at creation');
  await dialog.getByTestId('permission-activities:read').check();
  await dialog.getByTestId('limit-requests').fill('10');
  await dialog.getByTestId('limit-refill-amount').fill('50');
  await dialog.getByTestId('limit-refill-interval').fill('60');
  await dialog.getByTestId('confirm').click();
  const limitedId = await keyIdFromUrl();
  await page.getByTestId('key-rate-limit').filter({ hasText: '10 / 60 s' }).waitFor();
  assert.equal(await text('key-credits'), '50 left, refilled to 50 every 60 s');
  const key = await pageFetch('GET', `/console/api/admin/keys/${limitedId}`);
  assert.deepEqual(key.json.data.rate_limit, { requests: 10, window_seconds: 60 }, key.text);
  assert.deepEqual(key.json.data.credits, { remaining: 50, refill: { amount: 50, interval_seconds: 60 } }, key.text);
  await pageFetch('DELETE', `/console/api/admin/keys/${limitedId}`);
});

await step('10. New API Key with a pasted public key: no secret shown, and requests signed with its private key pass', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await page.getByTestId('back-to-keys').click();
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByLabel('Application name').fill('Pasted public key');
  await dialog.getByTestId('permission-activities:read').check();
  await dialog.getByTestId('public-key-input').fill(publicKey.export({ type: 'spki', format: 'pem' }));
  await shot('14-new-key-public-key');
  await dialog.getByTestId('confirm').click();
  const id = await keyIdFromUrl();
  await page.getByTestId('key-public-key').waitFor({ state: 'visible' });
  assert.equal(await text('key-algorithm'), 'ecdsa-p256-sha256 (public key)');
  assert.equal(await page.getByTestId('key-secret').count(), 0, 'a public-key credential has no secret');
  assert.equal(await page.getByTestId('rotate-secret').count(), 0, 'nor a secret to rotate');
  assert.equal(await page.getByTestId('reveal-secret').count(), 0, 'nor one to reveal');
  await shot('15-key-public-key');
  const token = await text('key-token');
  const ok = await signedWithPrivateKey(privateKey, 'ecdsa-p256-sha256', token, '/api/activities');
  assert.equal(ok.status, 200, ok.text);
  const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const refused = await signedWithPrivateKey(stranger, 'ecdsa-p256-sha256', token, '/api/activities');
  assert.equal(refused.status, 401, refused.text);
  assert.equal(refused.json.error.code, 12, refused.text);
  await pageFetch('DELETE', `/console/api/admin/keys/${id}`);
});

await step('11. New API Key with a public key read from a file (keyward keygen\'s), for the CLI to sign with', async () => {
  assert.ok(PUBLIC_KEY_FILE, 'PUBLIC_KEY_FILE is set');
  await page.getByTestId('back-to-keys').click();
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByLabel('Application name').fill('Uploaded public key');
  await dialog.getByTestId('permission-activities:read').check();
  await dialog.getByTestId('public-key-file').setInputFiles(PUBLIC_KEY_FILE);
  await page.waitForFunction(() =>
    document.querySelector('[data-testid="public-key-input"]').value.startsWith('-----BEGIN PUBLIC KEY-----'));
  await dialog.getByTestId('confirm').click();
  await keyIdFromUrl();
  await page.getByTestId('key-public-key').waitFor({ state: 'visible' });
  assert.equal(await text('key-algorithm'), 'ed25519 (public key)');
  return `public-key token: ${await text('key-token')}`;
});

await step('11b. New API Key for a client certificate subject: no secret, nothing to rotate or reveal', async () => {
  await page.getByTestId('back-to-keys').click();
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByLabel('Application name').fill('Billing service');
  await dialog.getByTestId('permission-activities:read').check();
  await dialog.getByTestId('certificate-subject-input').fill('spiffe://example.org/billing');
  await dialog.getByTestId('confirm').click();
  const id = await keyIdFromUrl();
  await page.getByTestId('key-certificate').waitFor({ state: 'visible' });
  assert.equal(await text('key-algorithm'), 'a client certificate (mtls)');
  assert.ok((await text('key-certificate')).includes('spiffe://example.org/billing'));
  assert.equal(await page.getByTestId('key-secret').count(), 0, 'a certificate-bound key has no secret');
  assert.equal(await page.getByTestId('rotate-secret').count(), 0, 'nor a secret to rotate');
  assert.equal(await page.getByTestId('reveal-secret').count(), 0, 'nor one to reveal');
  const key = await pageFetch('GET', `/console/api/admin/keys/${id}`);
  assert.equal(key.json.data.certificate_subject, 'spiffe://example.org/billing', key.text);
  await pageFetch('DELETE', `/console/api/admin/keys/${id}`);
});

await step('11c. New API Key of type "plain API key": the key is shown once and works as X-API-Key; afterwards only rolled, never revealed', async () => {
  await page.goto(`${BASE}/console/#/keys`);
  await page.getByTestId('new-key').click();
  const dialog = page.getByTestId('new-key-dialog');
  await dialog.waitFor({ state: 'visible' });
  await dialog.getByLabel('Application name').fill('Plain reader');
  await dialog.getByTestId('key-type-api-key').check();
  await dialog.getByTestId('permission-activities:read').check();
  await dialog.getByTestId('confirm').click();
  const id = await keyIdFromUrl();
  await page.getByTestId('key-plain').waitFor({ state: 'visible' });
  const plain = (await text('key-plain')).trim();
  assert.match(plain, /^kwapi_[0-9A-Za-z]{36}$/);
  assert.equal(await text('key-algorithm'), 'itself: a plain key, sent as is (api-key)');
  await shot('16b-plain-key');
  const read = await fetch(`${BASE}/api/activities`, { headers: { 'X-API-Key': plain } });
  assert.equal(read.status, 200, await read.text());
  // Leaving the page hides it for good: no reveal, a roll instead.
  await page.getByTestId('back-to-keys').click();
  await page.locator(`[data-testid="key-row"][data-key-id="${id}"]`).getByTestId('key-link').click();
  await page.getByTestId('plain-key-hidden').waitFor({ state: 'visible' });
  assert.equal(await page.getByTestId('reveal-secret').count(), 0, 'a plain key is never revealed');
  assert.equal(await page.getByTestId('key-plain').count(), 0);
  await page.getByTestId('rotate-secret').click();
  const roll = page.getByTestId('rotate-dialog');
  await roll.getByTestId('overlap-seconds').fill('0');
  await roll.getByTestId('confirm').click();
  await page.getByTestId('key-plain').waitFor({ state: 'visible' });
  const rolled = (await text('key-plain')).trim();
  assert.notEqual(rolled, plain);
  const old = await fetch(`${BASE}/api/activities`, { headers: { 'X-API-Key': plain } });
  assert.equal(old.status, 401, 'rolled with no overlap: the old key is refused');
  const now = await fetch(`${BASE}/api/activities`, { headers: { Authorization: `Bearer ${rolled}` } });
  assert.equal(now.status, 200, await now.text());
  await pageFetch('DELETE', `/console/api/admin/keys/${id}`);
  return 'created, used as X-API-Key, rolled, the old one refused';
});

await step('12. the Policy form sets an expiry, a network and a route scope; the API agrees, and a POST outside the scope is refused (45)', async () => {
  const created = await pageFetch('POST', '/console/api/admin/keys', { data: { name: 'Policy test', permissions: ['activities:read', 'activities:write'] } });
  assert.equal(created.status, 201, created.text);
  const { id, token, secret } = created.json.data;
  await page.goto(`${BASE}/console/#/keys/${id}`);
  const form = page.getByTestId('policy-form');
  await form.waitFor({ state: 'visible' });
  const inAWeek = new Date(Date.now() + 7 * 86400000);
  const local = new Date(inAWeek.getTime() - inAWeek.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
  await form.getByTestId('policy-expires').fill(local);
  await form.getByTestId('policy-networks').fill('127.0.0.1\n::1');
  await form.getByTestId('policy-routes').fill('api GET');
  await form.getByTestId('save-policy').click();
  await page.getByTestId('notice').filter({ hasText: 'Policy of' }).waitFor();
  await shot('16-key-policy');
  const key = await pageFetch('GET', `/console/api/admin/keys/${id}`);
  assert.deepEqual(key.json.data.allowed_networks, ['127.0.0.1/32', '::1/128'], key.text);
  assert.deepEqual(key.json.data.allowed_routes, [{ route: 'api', methods: ['GET'] }], key.text);
  assert.ok(Math.abs(key.json.data.expires_at_ms - new Date(local).getTime()) < 1000, key.text);
  const refused = await signedActivity(token, secret);
  assert.equal(refused.status, 403, refused.text);
  assert.equal(refused.json.error.code, 45, refused.text);
  // A wrong route is shown as the API's error, and nothing changes.
  await form.getByTestId('policy-routes').fill('/nowhere');
  await form.getByTestId('save-policy').click();
  await page.getByTestId('error').filter({ hasText: 'unknown route' }).waitFor();
  const again = await pageFetch('GET', `/console/api/admin/keys/${id}`);
  assert.deepEqual(again.json.data.allowed_routes, [{ route: 'api', methods: ['GET'] }], again.text);
  await pageFetch('DELETE', `/console/api/admin/keys/${id}`);
});

await step('13. the Permissions form grants a key activities:write: its next signed POST passes, with the same token and secret', async () => {
  const created = await pageFetch('POST', '/console/api/admin/keys', { data: { name: 'Permissions test', permissions: ['activities:read'] } });
  assert.equal(created.status, 201, created.text);
  const { id, token, secret } = created.json.data;
  const before = await signedActivity(token, secret);
  assert.equal(before.status, 403, before.text);
  assert.equal(before.json.error.code, 20, before.text);
  await page.goto(`${BASE}/console/#/keys/${id}`);
  const form = page.getByTestId('permissions-form');
  await form.waitFor({ state: 'visible' });
  assert.ok(await form.getByTestId('permission-activities:read').isChecked(), 'the key\'s permission is checked');
  assert.ok(!(await form.getByTestId('permission-activities:write').isChecked()), 'the others are not');
  await form.getByTestId('permission-activities:write').check();
  await form.getByTestId('save-permissions').click();
  await page.getByTestId('notice').filter({ hasText: 'Permissions of “Permissions test” saved: activities:read, activities:write.' }).waitFor();
  await shot('17-key-permissions');
  const after = await signedActivity(token, secret);
  assert.equal(after.status, 201, after.text);
  const key = await pageFetch('GET', `/console/api/admin/keys/${id}`);
  assert.deepEqual(key.json.data.permissions, ['activities:read', 'activities:write'], key.text);
  const audit = await pageFetch('GET', '/console/api/admin/audit?pageSize=50');
  assert.ok(audit.text.includes('key.permissions'), audit.text);
  await pageFetch('DELETE', `/console/api/admin/keys/${id}`);
  return 'activities:write granted in the console, then a signed POST → 201';
});

await step('14. a key\'s page charts its requests, accepted and refused, by window; the Usage page shows the domain\'s traffic and busiest keys', async () => {
  const created = await pageFetch('POST', '/console/api/admin/keys', { data: { name: 'Charted', type: 'api-key', permissions: ['activities:read'] } });
  assert.equal(created.status, 201, created.text);
  const { id, key } = created.json.data;
  for (let i = 0; i < 6; i++) {
    const read = await fetch(`${BASE}/api/activities`, { headers: { 'X-API-Key': key } });
    assert.equal(read.status, 200, await read.text());
  }
  for (let i = 0; i < 2; i++) {
    const write = await fetch(`${BASE}/api/activities`, { method: 'POST', headers: { 'X-API-Key': key, 'Content-Type': 'application/json' }, body: ACTIVITY_BODY });
    assert.equal(write.status, 403, await write.text());
  }
  // Nodes write their counts in batches, every few seconds.
  const started = Date.now();
  for (;;) {
    const usage = await pageFetch('GET', `/console/api/admin/keys/${id}/usage`);
    const counted = usage.json.data.reduce((n, b) => n + b.accepted + b.refused, 0);
    if (counted === 8) break;
    assert.ok(counted < 8 && Date.now() - started < 20000, `counted ${counted}: ${usage.text}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await page.goto(`${BASE}/console/#/keys/${id}`);
  const panel = page.getByTestId('key-usage');
  await panel.locator('[data-testid="usage-svg"]').waitFor();
  assert.equal(await text('usage-accepted'), '6');
  assert.equal(await text('usage-refused'), '2');
  const bars = panel.getByTestId('usage-bar');
  assert.equal(await bars.count(), 24, 'a bar per hour of the last 24');
  const sums = await bars.evaluateAll((gs) => gs.reduce((n, g) => [n[0] + Number(g.getAttribute('data-accepted')), n[1] + Number(g.getAttribute('data-refused'))], [0, 0]));
  assert.deepEqual(sums, [6, 2]);
  assert.ok(await panel.locator('rect.usage-accepted').count() >= 1, 'accepted requests are drawn');
  assert.ok(await panel.locator('rect.usage-refused').count() >= 1, 'refused requests are drawn');
  const colours = await page.evaluate(() => {
    const fill = (selector) => getComputedStyle(document.querySelector(selector)).fill;
    const swatch = (selector) => getComputedStyle(document.querySelector(selector)).backgroundColor;
    return { accepted: [fill('rect.usage-accepted'), swatch('.swatch-accepted')], refused: [fill('rect.usage-refused'), swatch('.swatch-refused')] };
  });
  assert.equal(colours.accepted[0], colours.accepted[1], 'the accepted bars are in the colour of their total');
  assert.equal(colours.refused[0], colours.refused[1], 'the refused bars are in the colour of their total');
  assert.notEqual(colours.accepted[0], colours.refused[0]);
  assert.match(await panel.getByTestId('usage-codes').textContent(), /code 20 \(permission denied\)\s*2/);
  assert.match(await panel.getByTestId('usage-routes').textContent(), /api\s*6 accepted, 2 refused/);
  await shot('18-key-usage');
  await panel.getByTestId('usage-window-hour').click();
  await page.locator('[data-testid="key-usage"][data-window="hour"]').waitFor();
  assert.equal(await panel.getByTestId('usage-bar').count(), 60, 'a bar per minute of the last hour');
  assert.equal(await panel.getByTestId('usage-window-hour').getAttribute('aria-pressed'), 'true');
  assert.equal(await text('usage-accepted'), '6');
  await shot('19-key-usage-last-hour');
  await page.getByTestId('nav-usage').click();
  const domain = page.getByTestId('domain-usage');
  await domain.waitFor();
  const row = page.locator(`[data-testid="busiest-key"][data-key-id="${id}"]`);
  await row.waitFor();
  assert.match(await row.textContent(), /Charted\s*6\s*2\s*code 20 \(permission denied\): 2/);
  const accepted = Number((await text('usage-accepted')).replace(/\D/g, ''));
  assert.ok(accepted >= 6, `the domain's total holds the key's: ${accepted}`);
  await shot('20-usage-overview');
  await domain.getByTestId('usage-window-month').click();
  await page.waitForURL(/#\/usage\?window=month$/);
  await page.locator('[data-testid="domain-usage"][data-window="month"]').waitFor();
  assert.equal(await page.getByTestId('domain-usage').getByTestId('usage-bar').count(), 30, 'a bar per day of the last 30');
  await pageFetch('DELETE', `/console/api/admin/keys/${id}`);
  return 'key page (24 hours, then the last hour) and the Usage page (24 hours, then 30 days)';
});

await step('15. a key past its expiry is shown as expired (its requests get 29), one in its last week as expiring soon', async () => {
  const soon = await pageFetch('POST', '/console/api/admin/keys', { data: { name: 'Expiring', permissions: ['activities:read'], expires_at_ms: Date.now() + 2 * 86400000 } });
  assert.equal(soon.status, 201, soon.text);
  const brief = await pageFetch('POST', '/console/api/admin/keys', { data: { name: 'Expired', type: 'api-key', permissions: ['activities:read'], expires_at_ms: Date.now() + 1500 } });
  assert.equal(brief.status, 201, brief.text);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const refused = await fetch(`${BASE}/api/activities`, { headers: { 'X-API-Key': brief.json.data.key } });
  assert.equal(refused.status, 401);
  assert.equal((await refused.json()).error.code, 29);
  await page.goto(`${BASE}/console/#/keys`);
  await page.getByTestId('keys-table').waitFor();
  const row = (id) => page.locator(`[data-testid="key-row"][data-key-id="${id}"]`);
  assert.equal((await row(brief.json.data.id).getByTestId('key-state-badge').textContent()).trim(), 'expired');
  assert.equal((await row(soon.json.data.id).getByTestId('key-state-badge').textContent()).trim(), 'active');
  assert.equal((await row(soon.json.data.id).getByTestId('key-expires-soon').textContent()).trim(), 'expires soon');
  await shot('22-keys-expired-and-expiring');
  await page.goto(`${BASE}/console/#/keys/${brief.json.data.id}`);
  await page.getByTestId('key-state').filter({ hasText: 'expired' }).waitFor();
  for (const { id } of [soon.json.data, brief.json.data]) await pageFetch('DELETE', `/console/api/admin/keys/${id}`);
});

await step('the keys and Usage pages are readable on a narrow window (no horizontal scrolling)', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/console/#/keys`);
  await page.getByTestId('keys-table').waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the window`);
  await shot('13-keys-narrow');
  await page.goto(`${BASE}/console/#/usage`);
  await page.getByTestId('busiest-keys').waitFor();
  const wider = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(wider <= 0, `the Usage page is ${wider}px wider than the window`);
  await shot('21-usage-narrow');
  await page.setViewportSize({ width: 1280, height: 860 });
});

await step('no script errors and no Content-Security-Policy violations', async () => {
  assert.deepEqual(problems, []);
});

console.log('screenshots:');
for (const file of screenshots) console.log(`  ${file}`);
await finish();

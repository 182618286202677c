// The API Keys page: the list of the domain's keys (with their creators' names) and the
// New API Key dialog.

import { api } from "./api.js";
import { h, nextId, table, timeCell, tokenPrefix } from "./dom.js";
import { creditsCell, expiryCell, keyStateBadge, limitFields, rateLimitCell, readLimits } from "./limits.js";
import { clearError, notify } from "./messages.js";
import { denied, fail, loading, setView } from "./page.js";
import { has, isCurrent, keepSecret, rememberUserName, state } from "./state.js";
import { checkedPermissions, openDialog, permissionFieldset } from "./widgets.js";

export function loadUserNames() {
  if (!has('users:manage')) return Promise.resolve(state.userNames);
  return api('GET', '/console/api/admin/users').then(function (answer) {
    (answer.data || []).forEach(function (u) { rememberUserName(u.id, u.username); });
    return state.userNames;
  }, function () { return state.userNames; });
}

export function creator(key) {
  if (key.created_by_user_id !== null && key.created_by_user_id !== undefined) {
    var name = state.userNames[key.created_by_user_id];
    return name ? name + ' (user ' + key.created_by_user_id + ')' : 'user ' + key.created_by_user_id;
  }
  if (key.created_by_key_id !== null && key.created_by_key_id !== undefined) return 'key ' + key.created_by_key_id;
  return '—';
}

export function renderKeys(generation) {
  var title = 'API Keys';
  if (!has('keys:manage')) return denied(generation, title, 'keys:manage');
  loading(generation, title);
  Promise.all([api('GET', '/console/api/admin/keys'), loadUserNames()]).then(function (results) {
    var keys = results[0].data || [];
    var rows = keys.map(function (key) {
      return {
        attrs: { 'data-testid': 'key-row', 'data-key-id': key.id },
        cells: [
          h('a', { href: '#/keys/' + key.id, 'data-testid': 'key-link' }, key.name),
          h('code', { class: 'token' }, tokenPrefix(key.token)),
          creator(key),
          timeCell(key.created_at_ms),
          timeCell(key.last_used_at_ms, 'Never'),
          rateLimitCell(key.rate_limit),
          creditsCell(key.credits),
          expiryCell(key.expires_at_ms),
          keyStateBadge(key)
        ]
      };
    });
    setView(generation, title, [
      h('div', { class: 'page-head' },
        h('h1', {}, title),
        h('button', { type: 'button', class: 'button button-primary', 'data-testid': 'new-key', onclick: newKey }, 'New API Key')),
      h('p', { class: 'muted' },
        'API keys let applications call the API. Each key has a token, which identifies it, and a secret, which signs requests; or it is one plain API key, sent as is. A secret or a plain key is shown once, when it is created or rotated.'),
      table('The domain\'s API keys', ['Name', 'Token', 'Creator', 'Created', 'Last used', 'Rate limit', 'Credits', 'Expires', 'State'], rows,
        'No API keys yet. Create one with “New API Key”.', 'keys-table')
    ]);
  }, function (error) {
    if (!isCurrent(generation)) return;
    setView(generation, title, [h('h1', {}, title)]);
    fail(error);
  });
}

var PUBLIC_KEY_ALGORITHMS = ['ed25519', 'ecdsa-p256-sha256', 'ecdsa-p384-sha384', 'rsa-pss-sha512', 'rsa-v1_5-sha256'];

// The optional public key of a new key: pasted, or read from a file into the same box.
function publicKeyFields() {
  var textId = nextId('public-key');
  var fileId = nextId('public-key-file');
  var algId = nextId('public-key-alg');
  var textarea = h('textarea', {
    id: textId, name: 'public_key', rows: 5, spellcheck: 'false', autocomplete: 'off',
    class: 'mono', 'data-testid': 'public-key-input', 'aria-describedby': textId + '-help',
    placeholder: '-----BEGIN PUBLIC KEY-----'
  });
  var file = h('input', { id: fileId, name: 'public_key_file', type: 'file', accept: '.pem,.pub,.json,.jwk,text/plain,application/json', 'data-testid': 'public-key-file' });
  file.addEventListener('change', function () {
    var chosen = file.files && file.files[0];
    if (!chosen) return;
    chosen.text().then(function (contents) { textarea.value = contents.trim(); });
  });
  return h('fieldset', { class: 'fieldset' },
    h('legend', {}, 'Public key (optional)'),
    h('div', { class: 'field' },
      h('label', { for: textId }, 'Public key (PEM or JWK)'),
      textarea,
      h('p', { id: textId + '-help', class: 'hint' },
        'Leave empty for a key with a secret. With a public key, the application signs RFC 9421 requests with its private key (see keyward keygen), which never leaves it: the key has no secret.')),
    h('div', { class: 'field' },
      h('label', { for: fileId }, 'Or read it from a file'),
      file),
    h('div', { class: 'field' },
      h('label', { for: algId }, 'Algorithm'),
      h('select', { id: algId, name: 'algorithm', 'data-testid': 'public-key-algorithm' },
        h('option', { value: '' }, 'The key’s own (RSA keys need one chosen)'),
        PUBLIC_KEY_ALGORITHMS.map(function (name) { return h('option', { value: name }, name); }))));
}

// The optional client certificate of a new key (the mtls scheme): one certificate pasted or
// read from a file, or a subject alternative name any certificate from the trusted CA carries.
function certificateFields() {
  var textId = nextId('certificate');
  var fileId = nextId('certificate-file');
  var subjectId = nextId('certificate-subject');
  var textarea = h('textarea', {
    id: textId, name: 'certificate', rows: 5, spellcheck: 'false', autocomplete: 'off',
    class: 'mono', 'data-testid': 'certificate-input', 'aria-describedby': textId + '-help',
    placeholder: '-----BEGIN CERTIFICATE-----'
  });
  var file = h('input', { id: fileId, name: 'certificate_file', type: 'file', accept: '.pem,.crt,.cer,text/plain', 'data-testid': 'certificate-file' });
  file.addEventListener('change', function () {
    var chosen = file.files && file.files[0];
    if (!chosen) return;
    chosen.text().then(function (contents) { textarea.value = contents.trim(); });
  });
  return h('fieldset', { class: 'fieldset' },
    h('legend', {}, 'Client certificate (optional)'),
    h('div', { class: 'field' },
      h('label', { for: textId }, 'Certificate (PEM)'),
      textarea,
      h('p', { id: textId + '-help', class: 'hint' },
        'The key is this certificate: a request over a TLS connection that presents it is the key (the mtls scheme), and the key has no secret.')),
    h('div', { class: 'field' },
      h('label', { for: fileId }, 'Or read it from a file'),
      file),
    h('div', { class: 'field' },
      h('label', { for: subjectId }, 'Or any certificate naming'),
      h('input', { id: subjectId, name: 'certificate_subject', type: 'text', maxlength: 255, autocomplete: 'off', class: 'mono', 'data-testid': 'certificate-subject-input', placeholder: 'spiffe://example.org/billing' })));
}

// What the new key is: a token and a secret for signed requests (or a public key or a client
// certificate, below), or one plain value sent as is.
function keyTypeFields() {
  var signedId = nextId('key-type');
  var plainId = nextId('key-type');
  return h('fieldset', { class: 'fieldset' },
    h('legend', {}, 'Type'),
    h('div', { class: 'check' },
      h('input', { type: 'radio', id: signedId, name: 'type', value: 'hmac', checked: true, 'data-testid': 'key-type-hmac' }),
      h('label', { for: signedId }, 'A token and a secret ', h('span', { class: 'muted' }, 'the application signs each request (or, below, uses a public key or a client certificate)'))),
    h('div', { class: 'check' },
      h('input', { type: 'radio', id: plainId, name: 'type', value: 'api-key', 'data-testid': 'key-type-api-key' }),
      h('label', { for: plainId }, 'A plain API key ', h('span', { class: 'muted' }, 'one value the application sends as is, in X-API-Key or as a bearer token; over HTTPS only'))));
}

function newKey() {
  clearError();
  var nameId = nextId('key-name');
  openDialog({
    title: 'New API Key',
    testid: 'new-key-dialog',
    confirmLabel: 'Create key',
    body: [
      h('div', { class: 'field' },
        h('label', { for: nameId }, 'Application name'),
        h('input', { id: nameId, name: 'name', type: 'text', required: true, maxlength: 100, autocomplete: 'off', 'data-testid': 'key-name-input', 'aria-describedby': nameId + '-help' }),
        h('p', { id: nameId + '-help', class: 'hint' }, 'The application that will use this key, e.g. “Data warehouse sync”. The audit log records it.')),
      keyTypeFields(),
      permissionFieldset('Permissions', [], 'new-key-perm'),
      limitFields(null, true),
      publicKeyFields(),
      certificateFields()
    ],
    onConfirm: function (form) {
      var data = { name: form.elements.name.value.trim(), permissions: checkedPermissions(form) };
      if (form.elements.type.value === 'api-key') data.type = 'api-key';
      var limits = readLimits(form);
      if (limits.rate_limit) data.rate_limit = limits.rate_limit;
      if (limits.credits) data.credits = limits.credits;
      var publicKey = form.elements.public_key.value.trim();
      if (publicKey) {
        data.public_key = publicKey;
        if (form.elements.algorithm.value) data.algorithm = form.elements.algorithm.value;
      }
      var certificate = form.elements.certificate.value.trim();
      if (certificate) data.certificate = certificate;
      var subject = form.elements.certificate_subject.value.trim();
      if (subject) data.certificate_subject = subject;
      return api('POST', '/console/api/admin/keys', { data: data }).then(function (answer) { return answer.data; });
    }
  }).then(function (key) {
    if (!key) return;
    if (key.key) {
      keepSecret(key.id, key.key, false);
      notify('API key “' + key.name + '” created. Copy the key now: it is not shown again.');
    } else if (key.secret) {
      keepSecret(key.id, key.secret, false);
      notify('API key “' + key.name + '” created. Copy its secret now: it is not shown again.');
    } else if (key.algorithm === 'mtls') {
      notify('API key “' + key.name + '” created for its client certificate: requests over a connection that presents it are this key.');
    } else {
      notify('API key “' + key.name + '” created with an ' + key.algorithm + ' public key: the application signs with its private key.');
    }
    location.hash = '#/keys/' + key.id;
  });
}

// An API key's page: its details, its usage, the rename, permissions, limits and policy forms, its
// credentials (the token, and the secret shown once or revealed, or its public key), and the
// regenerate, rotate and revoke actions.

import { ApiError, api, describe } from "./api.js";
import { h, nextId, timeCell } from "./dom.js";
import { creator, loadUserNames } from "./keys.js";
import {
  creditsCell, creditsText, expiryCell, expiryText, keyStateBadge, limitFields, limitInput,
  rateLimitCell, rateLimitText, readLimits
} from "./limits.js";
import { clearError, clearNotice, notify, showError } from "./messages.js";
import { denied, fail, loading, renderNotFound, setView } from "./page.js";
import { forgetSecret, has, isCurrent, keepSecret, nextGeneration, state } from "./state.js";
import { usagePanel } from "./usage.js";
import { checkedPermissions, confirmDialog, copyButton, openDialog, permissionFieldset } from "./widgets.js";

var DEFAULT_OVERLAP_SECONDS = 86400;
var MAX_OVERLAP_SECONDS = 30 * 86400;

export function renderKey(generation, id, keepFocus) {
  var title = 'API Key';
  if (!has('keys:manage')) return denied(generation, title, 'keys:manage');
  if (!/^\d+$/.test(id)) return renderNotFound(generation);
  if (!keepFocus) loading(generation, title);
  Promise.all([api('GET', '/console/api/admin/keys/' + id), loadUserNames()]).then(function (results) {
    showKey(generation, results[0].data, keepFocus);
  }, function (error) {
    if (!isCurrent(generation)) return;
    setView(generation, title, [
      h('p', {}, h('a', { href: '#/keys' }, '← All API keys')),
      h('h1', {}, title)
    ]);
    fail(error);
  });
}

function rerenderKey(id) {
  renderKey(nextGeneration(), String(id), true);
}

function showKey(generation, key, keepFocus) {
  var active = key.state === 'active';
  var fresh = state.fresh && String(state.fresh.id) === String(key.id) ? state.fresh : null;
  var secret = fresh ? fresh.secret : null;

  // Rename
  var renameId = nextId('rename');
  var renameForm = h('form', { class: 'form form-inline', 'data-testid': 'rename-form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: renameId }, 'Application name'),
      h('input', { id: renameId, name: 'name', type: 'text', required: true, maxlength: 100, value: key.name, autocomplete: 'off', 'data-testid': 'rename-input' })),
    h('button', { type: 'submit', class: 'button', 'data-testid': 'rename' }, 'Rename'));
  renameForm.addEventListener('submit', function (event) {
    event.preventDefault();
    clearError();
    var name = renameForm.elements.name.value.trim();
    if (!name) { showError('Enter a name.'); renameForm.elements.name.focus(); return; }
    api('PATCH', '/console/api/admin/keys/' + key.id, { data: { name: name } }).then(function (answer) {
      notify('Renamed to “' + answer.data.name + '”.');
      rerenderKey(key.id);
    }, fail);
  });

  // Permissions: replaced as a whole. Managing a key takes every permission it holds, so
  // every one of them is among the boxes.
  var permissionsForm = h('form', { class: 'form', 'data-testid': 'permissions-form', novalidate: true },
    permissionFieldset('The application may', key.permissions || [], 'key-perm'),
    h('p', { class: 'hint' }, 'Saved at once for the key and every access token minted from it; its credentials stay as they are.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', 'data-testid': 'save-permissions' }, 'Save permissions')));
  permissionsForm.addEventListener('submit', function (event) {
    event.preventDefault();
    clearError();
    clearNotice();
    var permissions = checkedPermissions(permissionsForm);
    api('PATCH', '/console/api/admin/keys/' + key.id, { data: { permissions: permissions } }).then(function (answer) {
      var held = answer.data.permissions || [];
      notify('Permissions of “' + answer.data.name + '” saved: ' + (held.length ? held.join(', ') : 'none') + '.');
      rerenderKey(key.id);
    }, fail);
  });

  // Limits
  var limitsForm = h('form', { class: 'form', 'data-testid': 'limits-form', novalidate: true },
    limitFields(key, false),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', 'data-testid': 'save-limits' }, 'Save')));
  limitsForm.addEventListener('submit', function (event) {
    event.preventDefault();
    clearError();
    clearNotice(); // an earlier "saved" would contradict an error about to be shown
    var limits;
    try {
      limits = readLimits(limitsForm);
    } catch (error) {
      showError(describe(error));
      if (error.input) error.input.focus();
      return;
    }
    var button = limitsForm.querySelector('button[type=submit]');
    button.disabled = true;
    api('PATCH', '/console/api/admin/keys/' + key.id, { data: limits }).then(function (answer) {
      notify('Limits of “' + answer.data.name + '” saved: rate limit ' + rateLimitText(answer.data.rate_limit) +
        ', credits ' + creditsText(answer.data.credits) + '.');
      rerenderKey(key.id);
    }, function (error) {
      button.disabled = false;
      fail(error);
      var input = error instanceof ApiError && error.status === 422 ? limitInput(limitsForm, error) : null;
      if (input && document.contains(input)) input.focus();
    });
  });

  // Token
  var tokenCode = h('code', { class: 'credential', 'data-testid': 'key-token', id: 'key-token' }, key.token);
  var tokenBlock = h('div', { class: 'credential-row' }, tokenCode, copyButton('Token', function () { return key.token; }, 'copy-token', tokenCode));

  // Secret, or the public key, client certificate or plain key that takes its place
  var certificate = key.algorithm === 'mtls';
  var plain = key.type === 'api-key';
  var secretBlock;
  if (plain && secret) {
    var plainCode = h('code', { class: 'credential', 'data-testid': 'key-plain', id: 'key-plain' }, secret);
    secretBlock = [
      h('div', { class: 'credential-row' }, plainCode, copyButton('Key', function () { return secret; }, 'copy-plain-key', plainCode)),
      h('p', { class: 'message message-warning' }, 'Copy the key now and keep it somewhere safe: keyward keeps only its digest, and it is not shown again once you leave this page.'),
      h('p', { class: 'hint' }, 'The application sends it as is: X-API-Key: ' + secret.slice(0, 10) + '… or Authorization: Bearer ' + secret.slice(0, 10) + '…')
    ];
  } else if (plain) {
    secretBlock = h('p', { class: 'muted', 'data-testid': 'plain-key-hidden' }, active
      ? 'A plain API key (sent as is, in X-API-Key or as a bearer token). It was shown when it was created; keyward keeps only its digest, so if it is lost, roll it to get a new one.'
      : 'This key is revoked.');
  } else if (certificate) {
    secretBlock = [
      h('p', { 'data-testid': 'key-certificate' }, key.certificate_sha256
        ? ['The client certificate whose SHA-256 is ', h('code', { class: 'credential' }, key.certificate_sha256)]
        : ['Any client certificate from the trusted CA that names ', h('code', { class: 'credential' }, key.certificate_subject)]),
      h('p', { class: 'hint' }, 'This key has no secret: a request over a TLS connection that presents this certificate, with no other credentials, is this key (the mtls scheme).')
    ];
  } else if (key.public_key) {
    secretBlock = [
      h('pre', { class: 'credential public-key', 'data-testid': 'key-public-key' }, key.public_key),
      h('p', { class: 'hint' }, 'This key has no secret: the application signs RFC 9421 requests (alg “' + key.algorithm + '”, keyid its token) with the private key that belongs to this public key.')
    ];
  } else if (secret) {
    var secretCode = h('code', { class: 'credential', 'data-testid': 'key-secret', id: 'key-secret' }, secret);
    secretBlock = [
      h('div', { class: 'credential-row' }, secretCode, copyButton('Secret', function () { return secret; }, 'copy-secret', secretCode)),
      fresh.revealed
        ? h('p', { class: 'hint' }, 'The secret is hidden again when you leave this page. Revealing it was recorded in the audit log.')
        : h('p', { class: 'message message-warning' }, 'Copy the secret now and keep it somewhere safe: it is not shown again once you leave this page.')
    ];
  } else if (has('keys:reveal') && active) {
    secretBlock = [
      h('p', { class: 'muted' }, 'The secret is hidden. Revealing it is recorded in the audit log.'),
      h('button', {
        type: 'button',
        class: 'button',
        'data-testid': 'reveal-secret',
        onclick: function (event) {
          clearError();
          var button = event.currentTarget;
          button.disabled = true;
          api('POST', '/console/api/admin/keys/' + key.id + '/reveal').then(function (answer) {
            keepSecret(key.id, answer.data.secret, true);
            notify('Secret revealed.');
            rerenderKey(key.id);
          }, function (error) { button.disabled = false; fail(error); });
        }
      }, 'Reveal secret')
    ];
  } else {
    secretBlock = h('p', { class: 'muted', 'data-testid': 'secret-hidden' }, active
      ? 'The secret is hidden. It was shown when the key was created; if it is lost, rotate it to get a new one.'
      : 'This key is revoked.');
  }

  // Actions
  var actions = null;
  if (active) {
    actions = h('section', { class: 'panel', 'aria-labelledby': 'key-actions-title' },
      h('h2', { id: 'key-actions-title' }, 'Manage'),
      h('div', { class: 'action-list' },
        h('div', { class: 'action-item' },
          h('button', { type: 'button', class: 'button', 'data-testid': 'regenerate-token', onclick: function () { regenerateToken(key); } }, 'Regenerate token'),
          h('p', { class: 'hint' }, 'Issues a new token. The old token stops working at once.')),
        key.public_key || certificate ? null : h('div', { class: 'action-item' },
          h('button', { type: 'button', class: 'button', 'data-testid': 'rotate-secret', onclick: function () { rotateSecret(key); } }, plain ? 'Roll key' : 'Rotate secret'),
          h('p', { class: 'hint' }, plain
            ? 'Issues a new key; the old one keeps working for an overlap you choose.'
            : 'Issues a new secret; the old one keeps working for an overlap you choose.')),
        h('div', { class: 'action-item' },
          h('button', { type: 'button', class: 'button button-danger', 'data-testid': 'revoke', onclick: function () { revokeKey(key); } }, 'Revoke'),
          h('p', { class: 'hint' }, 'Refuses this key for good. This cannot be undone.'))));
  }

  var details = h('dl', { class: 'details' },
    h('dt', {}, 'Id'), h('dd', { 'data-testid': 'key-id' }, String(key.id)),
    h('dt', {}, 'State'), h('dd', { 'data-testid': 'key-state' }, keyStateBadge(key)),
    h('dt', {}, 'Kind'), h('dd', {}, key.kind || '—'),
    h('dt', {}, 'Signs with'), h('dd', { 'data-testid': 'key-algorithm' }, certificate ? 'a client certificate (mtls)' : plain ? 'itself: a plain key, sent as is (api-key)' : key.public_key ? key.algorithm + ' (public key)' : 'a secret (' + key.algorithm + ')'),
    h('dt', {}, 'Permissions'), h('dd', {}, (key.permissions || []).length
      ? h('ul', { class: 'tags' }, key.permissions.map(function (p) { return h('li', {}, h('code', {}, p)); }))
      : h('span', { class: 'muted' }, 'None')),
    h('dt', {}, 'Creator'), h('dd', {}, creator(key)),
    h('dt', {}, 'Created'), h('dd', {}, timeCell(key.created_at_ms)),
    h('dt', {}, 'Last used'), h('dd', {}, timeCell(key.last_used_at_ms, 'Never')),
    h('dt', {}, 'Rate limit'), h('dd', {}, rateLimitCell(key.rate_limit)),
    h('dt', {}, 'Credits'), h('dd', {}, creditsCell(key.credits)),
    h('dt', {}, 'Expires'), h('dd', {}, expiryCell(key.expires_at_ms)),
    key.previous_secret_until_ms ? [
      h('dt', {}, 'Previous secret valid until'), h('dd', {}, timeCell(key.previous_secret_until_ms))
    ] : null);

  setView(generation, key.name, [
    h('p', { class: 'breadcrumb' }, h('a', { href: '#/keys', 'data-testid': 'back-to-keys' }, '← All API keys')),
    h('h1', { 'data-testid': 'key-name' }, key.name),
    details,
    usagePanel(key.id),
    active ? h('section', { class: 'panel', 'aria-labelledby': 'rename-title' },
      h('h2', { id: 'rename-title' }, 'Name'), renameForm) : null,
    active ? h('section', { class: 'panel', 'aria-labelledby': 'permissions-title' },
      h('h2', { id: 'permissions-title' }, 'Permissions'), permissionsForm) : null,
    active ? h('section', { class: 'panel', 'aria-labelledby': 'limits-title' },
      h('h2', { id: 'limits-title' }, 'Limits'), limitsForm) : null,
    active ? h('section', { class: 'panel', 'aria-labelledby': 'policy-title' },
      h('h2', { id: 'policy-title' }, 'Policy'), policyForm(key)) : null,
    h('section', { class: 'panel', 'aria-labelledby': 'credentials-title' },
      h('h2', { id: 'credentials-title' }, 'Credentials'),
      h('h3', {}, 'Token'),
      tokenBlock,
      h('h3', {}, key.public_key ? 'Public key' : plain ? 'Key' : 'Secret'),
      secretBlock),
    actions
  ], keepFocus);
}

// ---------------------------------------------------------------------------------------
// The policy form: expiry, client networks, routes

// "api GET,POST" per line, or "/orders" for every method.
function routesText(routes) {
  return (routes || []).map(function (scope) {
    return scope.route + (scope.methods ? ' ' + scope.methods.join(',') : '');
  }).join('\n');
}

function lines(text) {
  return text.split('\n').map(function (line) { return line.trim(); }).filter(Boolean);
}

// A datetime-local input's value for epoch ms, in the browser's time zone.
function localInputValue(ms) {
  if (!ms) return '';
  var d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

function policyForm(key) {
  var expiresId = nextId('expires');
  var networksId = nextId('networks');
  var routesId = nextId('routes');
  var form = h('form', { class: 'form', 'data-testid': 'policy-form', novalidate: true },
    h('div', { class: 'field' },
      h('label', { for: expiresId }, 'Expires'),
      h('input', { id: expiresId, name: 'expires', type: 'datetime-local', value: localInputValue(key.expires_at_ms), 'data-testid': 'policy-expires', 'aria-describedby': expiresId + '-help' }),
      h('p', { id: expiresId + '-help', class: 'hint' }, 'In your time zone. Empty: the key never expires. From then on it is refused (error 29); in its last 7 days its answers carry Keyward-Key-Expires.')),
    h('div', { class: 'field' },
      h('label', { for: networksId }, 'Allowed networks'),
      h('textarea', { id: networksId, name: 'networks', rows: 3, class: 'mono', spellcheck: 'false', 'data-testid': 'policy-networks', 'aria-describedby': networksId + '-help' },
        (key.allowed_networks || []).join('\n')),
      h('p', { id: networksId + '-help', class: 'hint' }, 'One address range per line (203.0.113.0/24, 2001:db8::/32). Empty: any address. Other addresses are refused (error 44).')),
    h('div', { class: 'field' },
      h('label', { for: routesId }, 'Allowed routes'),
      h('textarea', { id: routesId, name: 'routes', rows: 3, class: 'mono', spellcheck: 'false', 'data-testid': 'policy-routes', 'aria-describedby': routesId + '-help' },
        routesText(key.allowed_routes)),
      h('p', { id: routesId + '-help', class: 'hint' }, 'One route per line: api, admin, provisioning, forward-auth or a gateway route such as /orders, then optionally its methods (api GET,HEAD). Empty: every route. Others are refused (error 45).')),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', 'data-testid': 'save-policy' }, 'Save policy')));
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    clearError();
    clearNotice();
    var e = form.elements;
    var expires = e.expires.value ? new Date(e.expires.value).getTime() : null;
    if (e.expires.value && isNaN(expires)) { showError('Expires is not a date and time.'); e.expires.focus(); return; }
    var networks = lines(e.networks.value);
    var routes = lines(e.routes.value).map(function (line) {
      var parts = line.split(/\s+/);
      var scope = { route: parts[0] };
      if (parts[1]) scope.methods = parts.slice(1).join(',').split(',').filter(Boolean);
      return scope;
    });
    var data = {
      expires_at_ms: expires,
      allowed_networks: networks.length ? networks : null,
      allowed_routes: routes.length ? routes : null
    };
    var button = form.querySelector('button[type=submit]');
    button.disabled = true;
    api('PATCH', '/console/api/admin/keys/' + key.id, { data: data }).then(function (answer) {
      notify('Policy of “' + answer.data.name + '” saved: expires ' + expiryText(answer.data.expires_at_ms) + '.');
      rerenderKey(key.id);
    }, function (error) {
      button.disabled = false;
      fail(error);
      var field = error instanceof ApiError && error.detail && error.detail.field;
      var input = { expires_at_ms: e.expires, allowed_networks: e.networks, allowed_routes: e.routes }[field];
      if (input) input.focus();
    });
  });
  return form;
}

// ---------------------------------------------------------------------------------------
// Actions: regenerate the token, rotate the secret, revoke

function regenerateToken(key) {
  clearError();
  confirmDialog('Regenerate token?',
    'A new token replaces the current one. The old token stops working at once: every application using it is refused until it uses the new token. The secret does not change.',
    'Regenerate token',
    function () { return api('POST', '/console/api/admin/keys/' + key.id + '/regenerate-token'); },
    'regenerate-dialog'
  ).then(function (answer) {
    if (!answer) return;
    notify('New token issued. The old token no longer works.');
    rerenderKey(key.id);
  });
}

function rotateSecret(key) {
  clearError();
  var overlapId = nextId('overlap');
  var what = key.type === 'api-key' ? 'key' : 'secret';
  openDialog({
    title: what === 'key' ? 'Roll key?' : 'Rotate secret?',
    testid: 'rotate-dialog',
    confirmLabel: what === 'key' ? 'Roll key' : 'Rotate secret',
    danger: true,
    body: [
      h('p', {}, 'A new ' + what + ' is issued and shown once. The current ' + what + ' keeps working during the overlap, so applications can switch without downtime.'),
      h('div', { class: 'field' },
        h('label', { for: overlapId }, 'Overlap (seconds)'),
        h('input', {
          id: overlapId, name: 'overlap', type: 'number', inputmode: 'numeric', min: 0, max: MAX_OVERLAP_SECONDS, step: 1,
          required: true, value: DEFAULT_OVERLAP_SECONDS, 'aria-describedby': overlapId + '-help', 'data-testid': 'overlap-seconds'
        }),
        h('p', { id: overlapId + '-help', class: 'hint' }, '86400 seconds is 1 day (the default); 0 stops the old ' + what + ' at once; at most 2592000 (30 days).'))
    ],
    onConfirm: function (form) {
      var seconds = Number(form.elements.overlap.value);
      return api('POST', '/console/api/admin/keys/' + key.id + '/rotate-secret', { data: { overlap_seconds: seconds } })
        .then(function (answer) { return answer.data; });
    }
  }).then(function (rotated) {
    if (!rotated) return;
    keepSecret(key.id, rotated.key || rotated.secret, false);
    notify('New ' + what + ' issued. Copy it now: it is not shown again.');
    rerenderKey(key.id);
  });
}

function revokeKey(key) {
  clearError();
  confirmDialog('Revoke “' + key.name + '”?',
    'The key is refused from the next request on, for good. Applications using it stop working. This cannot be undone.',
    'Revoke key',
    function () { return api('DELETE', '/console/api/admin/keys/' + key.id); },
    'revoke-dialog'
  ).then(function (answer) {
    if (!answer) return;
    forgetSecret();
    notify('API key “' + key.name + '” revoked.');
    rerenderKey(key.id);
  });
}

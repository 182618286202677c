// keyward console: a small single-page app over keyward's JSON API.
//
// Served under a strict Content-Security-Policy: no inline script or style, nothing from
// another origin, no eval. Every element is built with the DOM API (never innerHTML), so a
// name typed by a user can never become markup.
//
// Session: the server keeps the session in an HttpOnly cookie (kw_session); requests that
// change something repeat the readable kw_csrf cookie in the X-CSRF-Token header.
(function () {
  'use strict';

  // What keyward's own permissions allow; a permission a deployment declares for its gateway
  // routes is shown with a generic line.
  var PERMISSION_HELP = {
    '*': 'Every permission, including those declared later',
    'activities:read': 'Read activities',
    'activities:write': 'Create, change and delete activities',
    'keys:manage': 'Create, rename, regenerate, rotate and revoke API keys',
    'keys:reveal': 'Reveal the secret of an existing API key',
    'users:manage': 'Create users, change their permissions, enable and disable them',
    'audit:read': 'Read the audit log'
  };
  var UNSAFE = ['POST', 'PUT', 'PATCH', 'DELETE'];
  var SESSION_ENDED = [10, 13, 22];
  var DEFAULT_OVERLAP_SECONDS = 86400;
  var MAX_OVERLAP_SECONDS = 30 * 86400;
  var AUDIT_PAGE_SIZE = 25;

  var state = {
    session: null, // {username, permissions, grantable}
    fresh: null, // {id, secret}: a secret just shown by the server, kept only in memory
    generation: 0 // incremented on each render, so a slow answer never overwrites a newer page
  };

  var els = {};

  // ---------------------------------------------------------------------------------------
  // DOM helpers

  function h(tag, props) {
    var el = document.createElement(tag);
    if (props) {
      Object.keys(props).forEach(function (key) {
        var value = props[key];
        if (value === null || value === undefined || value === false) return;
        if (key === 'class') el.className = value;
        else if (key === 'text') el.textContent = value;
        else if (key.slice(0, 2) === 'on' && typeof value === 'function') {
          el.addEventListener(key.slice(2), value);
        } else if (value === true) el.setAttribute(key, '');
        else el.setAttribute(key, String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(el, arguments[i]);
    return el;
  }

  function append(parent, child) {
    if (child === null || child === undefined || child === false) return;
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(parent, c); });
    } else if (child instanceof Node) {
      parent.appendChild(child);
    } else {
      parent.appendChild(document.createTextNode(String(child)));
    }
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
  }

  var uid = 0;
  function nextId(prefix) {
    uid += 1;
    return prefix + '-' + uid;
  }

  function formatTime(ms) {
    if (ms === null || ms === undefined) return null;
    var date = new Date(ms);
    if (isNaN(date.getTime())) return String(ms);
    try {
      return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(date);
    } catch (e) {
      return date.toLocaleString();
    }
  }

  function timeCell(ms, never) {
    if (ms === null || ms === undefined) return h('span', { class: 'muted' }, never || '—');
    return h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toISOString() }, formatTime(ms));
  }

  function tokenPrefix(token) {
    if (!token) return '';
    return token.length > 12 ? token.slice(0, 12) + '…' : token;
  }

  function badge(value) {
    var v = String(value || '');
    return h('span', { class: 'badge badge-' + v.replace(/[^a-z]/g, '') }, v);
  }

  function has(permission) {
    var held = state.session ? state.session.permissions : [];
    return held.indexOf('*') !== -1 || held.indexOf(permission) !== -1;
  }

  // ---------------------------------------------------------------------------------------
  // Messages

  function showError(message) {
    els.error.textContent = message || '';
  }

  function clearError() {
    els.error.textContent = '';
  }

  var noticeTimer = null;
  var noticeAt = 0;
  function notify(message) {
    els.notice.textContent = message;
    noticeAt = Date.now();
    if (noticeTimer) clearTimeout(noticeTimer);
    noticeTimer = setTimeout(function () { els.notice.textContent = ''; }, 6000);
  }

  // A notice belongs to the action that just happened: an older one goes when the page changes.
  function clearOldNotice() {
    if (Date.now() - noticeAt > 1500) els.notice.textContent = '';
  }

  // ---------------------------------------------------------------------------------------
  // The API

  function ApiError(status, code, message, detail) {
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.message = message;
    this.detail = detail;
  }
  ApiError.prototype = Object.create(Error.prototype);
  ApiError.prototype.constructor = ApiError;

  // A form's value the console refuses before asking the server; input is the field to fix.
  function FormError(message, input) {
    this.name = 'FormError';
    this.message = message;
    this.input = input;
  }
  FormError.prototype = Object.create(Error.prototype);
  FormError.prototype.constructor = FormError;

  function describe(error) {
    if (error instanceof FormError) return error.message;
    if (!(error instanceof ApiError)) {
      return 'Something went wrong in the console: ' + (error && error.message ? error.message : String(error));
    }
    var text = error.message;
    var detail = error.detail;
    if (detail && typeof detail === 'object') {
      if (detail.explanation && text.indexOf(detail.explanation) === -1) text += ': ' + detail.explanation;
      if (Array.isArray(detail.not_held) && detail.not_held.length) {
        text += ' (not held: ' + detail.not_held.join(', ') + ')';
      }
    }
    if (error.code !== null && error.code !== undefined) text += ' [error ' + error.code + ']';
    return text;
  }

  function csrfToken() {
    var parts = document.cookie ? document.cookie.split(';') : [];
    for (var i = 0; i < parts.length; i++) {
      var part = parts[i].trim();
      if (part.indexOf('kw_csrf=') === 0) return part.slice('kw_csrf='.length);
    }
    return '';
  }

  function api(method, path, body) {
    var headers = { Accept: 'application/json' };
    var init = { method: method, credentials: 'same-origin', cache: 'no-store', headers: headers };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    if (UNSAFE.indexOf(method) !== -1) {
      var token = csrfToken();
      if (token) headers['X-CSRF-Token'] = token;
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var payload = null;
        if (text) {
          try { payload = JSON.parse(text); } catch (e) { payload = null; }
        }
        if (response.ok) return payload || {};
        var error = payload && payload.error;
        throw new ApiError(
          response.status,
          error ? error.code : null,
          error && error.message ? error.message : 'The server answered ' + response.status + ' ' + response.statusText + '.',
          error ? error.detail : null
        );
      });
    }, function () {
      throw new ApiError(0, null, 'The server could not be reached. Check the connection and try again.', null);
    });
  }

  // A failure on a page: an ended session goes back to the sign-in form, anything else is shown.
  function fail(error) {
    if (error instanceof ApiError && error.status === 401 && SESSION_ENDED.indexOf(error.code) !== -1 && state.session) {
      state.session = null;
      state.fresh = null;
      showSignIn();
      showError('Your session has ended. Sign in again.');
      return;
    }
    showError(describe(error));
  }

  // ---------------------------------------------------------------------------------------
  // Dialogs

  // Opens a modal dialog. options: title, body (nodes), confirmLabel, danger, testid,
  // onConfirm(form) → promise of a result. The dialog stays open, showing the error, when
  // onConfirm fails; it resolves with the result, or null when cancelled.
  function openDialog(options) {
    return new Promise(function (resolve) {
      var titleId = nextId('dialog-title');
      var errorBox = h('p', { class: 'message message-error', role: 'alert', 'data-testid': 'dialog-error' });
      var confirmButton = h('button', {
        type: 'submit',
        class: 'button ' + (options.danger ? 'button-danger' : 'button-primary'),
        'data-testid': 'confirm'
      }, options.confirmLabel || 'OK');
      var cancelButton = h('button', { type: 'button', class: 'button', 'data-testid': 'cancel' }, 'Cancel');
      var form = h('form', { class: 'form', method: 'dialog', novalidate: true },
        h('h2', { id: titleId }, options.title),
        options.body,
        errorBox,
        h('div', { class: 'actions actions-end' }, cancelButton, confirmButton));
      var dialog = h('dialog', {
        class: 'dialog',
        'aria-labelledby': titleId,
        'data-testid': options.testid || 'dialog'
      }, form);
      var done = false;
      var opener = document.activeElement;

      function finish(result) {
        if (done) return;
        done = true;
        if (dialog.open) dialog.close();
        dialog.remove();
        if (opener && document.contains(opener) && typeof opener.focus === 'function') opener.focus();
        resolve(result);
      }

      cancelButton.addEventListener('click', function () { finish(null); });
      dialog.addEventListener('cancel', function (event) {
        event.preventDefault();
        if (!confirmButton.disabled) finish(null);
      });
      form.addEventListener('submit', function (event) {
        event.preventDefault();
        if (confirmButton.disabled) return;
        errorBox.textContent = '';
        if (!form.checkValidity()) {
          var invalid = form.querySelector(':invalid');
          errorBox.textContent = invalid && invalid.validationMessage
            ? fieldLabel(invalid) + ': ' + invalid.validationMessage
            : 'Check the form.';
          if (invalid) invalid.focus();
          return;
        }
        confirmButton.disabled = true;
        cancelButton.disabled = true;
        form.setAttribute('aria-busy', 'true');
        Promise.resolve()
          .then(function () { return options.onConfirm ? options.onConfirm(form) : true; })
          .then(function (result) { finish(result === undefined ? true : result); }, function (error) {
            confirmButton.disabled = false;
            cancelButton.disabled = false;
            form.removeAttribute('aria-busy');
            if (error instanceof ApiError && error.status === 401 && SESSION_ENDED.indexOf(error.code) !== -1) {
              finish(null);
              fail(error);
              return;
            }
            errorBox.textContent = describe(error);
          });
      });

      document.body.appendChild(dialog);
      dialog.showModal();
      var first = form.querySelector('input:not([type=hidden]), select, textarea');
      (first || (options.danger ? cancelButton : confirmButton)).focus();
    });
  }

  function fieldLabel(input) {
    if (input.labels && input.labels.length) return input.labels[0].textContent.trim();
    return input.name || 'Field';
  }

  function confirmDialog(title, text, confirmLabel, onConfirm, testid) {
    return openDialog({
      title: title,
      body: h('p', {}, text),
      confirmLabel: confirmLabel,
      danger: true,
      testid: testid,
      onConfirm: onConfirm
    });
  }

  // Checkboxes for the permissions the signed-in user holds (a user cannot grant more).
  function permissionFieldset(legend, checked, namePrefix) {
    var boxes = state.session.grantable.map(function (name) {
      var id = nextId(namePrefix || 'perm');
      return h('div', { class: 'check' },
        h('input', {
          type: 'checkbox',
          id: id,
          name: 'permissions',
          value: name,
          checked: checked && checked.indexOf(name) !== -1,
          'data-testid': 'permission-' + name
        }),
        h('label', { for: id }, h('code', {}, name), ' ',
          h('span', { class: 'muted' }, PERMISSION_HELP[name] || 'Declared by this deployment')));
    });
    return h('fieldset', { class: 'fieldset' },
      h('legend', {}, legend),
      boxes.length ? boxes : h('p', { class: 'muted' }, 'You hold no permission you could grant.'));
  }

  function checkedPermissions(form) {
    return Array.prototype.slice.call(form.querySelectorAll('input[name=permissions]:checked'))
      .map(function (input) { return input.value; });
  }

  // ---------------------------------------------------------------------------------------
  // Copy to the clipboard

  function copyButton(label, getText, testid, target) {
    return h('button', {
      type: 'button',
      class: 'button button-small',
      'data-testid': testid,
      onclick: function () {
        var text = getText();
        var copied = function () { notify('Copied ' + label.toLowerCase() + ' to the clipboard.'); };
        var manual = function () {
          selectText(target);
          notify('Could not copy automatically: the ' + label.toLowerCase() + ' is selected, press Ctrl+C (or ⌘C) to copy it.');
        };
        if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function') {
          navigator.clipboard.writeText(text).then(copied, manual);
        } else {
          manual();
        }
      }
    }, 'Copy', h('span', { class: 'visually-hidden' }, ' ' + label.toLowerCase()));
  }

  function selectText(el) {
    if (!el) return;
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  // ---------------------------------------------------------------------------------------
  // Sign in and out

  function showSignIn() {
    state.generation += 1;
    els.nav.hidden = true;
    els.account.hidden = true;
    els.view.hidden = true;
    clear(els.view);
    els.signIn.hidden = false;
    document.title = 'Sign in · keyward console';
    var username = document.getElementById('sign-in-username');
    var password = document.getElementById('sign-in-password');
    password.value = '';
    (username.value ? password : username).focus();
  }

  function startApp(session) {
    state.session = {
      username: session.username,
      permissions: session.permissions || [],
      grantable: session.grantable || []
    };
    userNames = {};
    els.signIn.hidden = true;
    els.nav.hidden = false;
    els.account.hidden = false;
    els.accountName.textContent = state.session.username;
    els.navUsers.hidden = !has('users:manage');
    els.navAudit.hidden = !has('audit:read');
    els.view.hidden = false;
    if (!/^#\/./.test(location.hash)) {
      history.replaceState(null, '', '#/keys');
    }
    route(true);
  }

  function onSignIn(event) {
    event.preventDefault();
    clearError();
    var form = event.target;
    var username = form.elements.username.value.trim();
    var password = form.elements.password.value;
    if (!username || !password) {
      showError('Enter your user name and password.');
      (username ? form.elements.password : form.elements.username).focus();
      return;
    }
    var button = form.querySelector('button[type=submit]');
    button.disabled = true;
    api('POST', '/console/session', { username: username, password: password })
      .then(function (answer) {
        form.elements.password.value = '';
        startApp(answer.data);
      }, function (error) {
        showError(describe(error));
        form.elements.password.focus();
        form.elements.password.select();
      })
      .then(function () { button.disabled = false; });
  }

  function onSignOut() {
    clearError();
    api('DELETE', '/console/session').then(function () {
      state.session = null;
      state.fresh = null;
      showSignIn();
      notify('Signed out.');
    }, function (error) {
      if (error instanceof ApiError && error.status === 401) {
        state.session = null;
        state.fresh = null;
        showSignIn();
        return;
      }
      showError(describe(error));
    });
  }

  // ---------------------------------------------------------------------------------------
  // Routing

  function parseHash() {
    var hash = location.hash.replace(/^#/, '');
    var query = {};
    var q = hash.indexOf('?');
    if (q !== -1) {
      hash.slice(q + 1).split('&').forEach(function (pair) {
        if (!pair) return;
        var eq = pair.indexOf('=');
        try {
          var key = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
          query[key] = eq === -1 ? '' : decodeURIComponent(pair.slice(eq + 1).replace(/\+/g, ' '));
        } catch (e) {
          // A malformed escape in a hand-typed address: ignore that parameter.
        }
      });
      hash = hash.slice(0, q);
    }
    var parts = hash.split('/').filter(Boolean);
    return { parts: parts, query: query };
  }

  function buildQuery(query) {
    var pairs = Object.keys(query).filter(function (k) {
      return query[k] !== '' && query[k] !== null && query[k] !== undefined;
    }).map(function (k) {
      return encodeURIComponent(k) + '=' + encodeURIComponent(query[k]);
    });
    return pairs.length ? '?' + pairs.join('&') : '';
  }

  function route(keepMessages) {
    if (!state.session) return;
    var where = parseHash();
    var page = where.parts[0] || 'keys';
    if (!keepMessages) {
      clearError();
      clearOldNotice();
    }
    Array.prototype.forEach.call(els.nav.querySelectorAll('a[data-route]'), function (a) {
      if (a.getAttribute('data-route') === page) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    });
    // A secret shown once stays on screen only while its key's page is open.
    if (!(page === 'keys' && state.fresh && where.parts[1] === String(state.fresh.id))) {
      state.fresh = null;
    }
    state.generation += 1;
    var generation = state.generation;
    if (page === 'keys' && where.parts[1]) renderKey(generation, where.parts[1]);
    else if (page === 'keys') renderKeys(generation);
    else if (page === 'users') renderUsers(generation);
    else if (page === 'audit') renderAudit(generation, where.query);
    else renderNotFound(generation);
  }

  // Sets the page's content (if it is still the current page) and moves focus to its heading.
  function setView(generation, title, nodes, keepFocus) {
    if (generation !== state.generation) return false;
    document.title = title + ' · keyward console';
    var active = document.activeElement;
    var activeTestId = active && active.getAttribute && active.getAttribute('data-testid');
    clear(els.view);
    append(els.view, nodes);
    var heading = els.view.querySelector('h1');
    if (keepFocus && activeTestId) {
      var same = els.view.querySelector('[data-testid="' + activeTestId + '"]');
      if (same) { same.focus(); return true; }
    }
    if (heading) {
      heading.setAttribute('tabindex', '-1');
      heading.focus();
    }
    return true;
  }

  function loading(generation, title) {
    setView(generation, title, [h('h1', {}, title), h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…')]);
  }

  function renderNotFound(generation) {
    setView(generation, 'Not found', [
      h('h1', {}, 'Page not found'),
      h('p', {}, 'There is no such page. ', h('a', { href: '#/keys' }, 'Go to the API keys'), '.')
    ]);
  }

  function denied(generation, title, permission) {
    setView(generation, title, [
      h('h1', {}, title),
      h('p', { class: 'message message-info' }, 'You need the ', h('code', {}, permission),
        ' permission to see this page. Ask an administrator.')
    ]);
  }

  // ---------------------------------------------------------------------------------------
  // API keys

  var userNames = {};

  function loadUserNames() {
    if (!has('users:manage')) return Promise.resolve(userNames);
    return api('GET', '/console/api/admin/users').then(function (answer) {
      (answer.data || []).forEach(function (u) { userNames[u.id] = u.username; });
      return userNames;
    }, function () { return userNames; });
  }

  function creator(key) {
    if (key.created_by_user_id !== null && key.created_by_user_id !== undefined) {
      var name = userNames[key.created_by_user_id];
      return name ? name + ' (user ' + key.created_by_user_id + ')' : 'user ' + key.created_by_user_id;
    }
    if (key.created_by_key_id !== null && key.created_by_key_id !== undefined) return 'key ' + key.created_by_key_id;
    return '—';
  }

  function table(caption, headers, rows, emptyText, testid) {
    if (!rows.length) return h('p', { class: 'empty muted', 'data-testid': testid ? testid + '-empty' : null }, emptyText);
    return h('div', { class: 'table-wrap' },
      h('table', { class: 'table', 'data-testid': testid },
        h('caption', { class: 'visually-hidden' }, caption),
        h('thead', {}, h('tr', {}, headers.map(function (label) { return h('th', { scope: 'col' }, label); }))),
        h('tbody', {}, rows.map(function (row) {
          return h('tr', row.attrs || {}, row.cells.map(function (cell, i) {
            return h(i === 0 ? 'th' : 'td', i === 0 ? { scope: 'row', 'data-label': headers[i] } : { 'data-label': headers[i] }, cell);
          }));
        }))));
  }

  function renderKeys(generation) {
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
            badge(key.state)
          ]
        };
      });
      setView(generation, title, [
        h('div', { class: 'page-head' },
          h('h1', {}, title),
          h('button', { type: 'button', class: 'button button-primary', 'data-testid': 'new-key', onclick: newKey }, 'New API Key')),
        h('p', { class: 'muted' },
          'API keys let applications call the API. Each key has a token, which identifies it, and a secret, which signs requests; the secret is shown once, when it is created or rotated.'),
        table('The domain\'s API keys', ['Name', 'Token', 'Creator', 'Created', 'Last used', 'Rate limit', 'Credits', 'Expires', 'State'], rows,
          'No API keys yet. Create one with “New API Key”.', 'keys-table')
      ]);
    }, function (error) {
      if (generation !== state.generation) return;
      setView(generation, title, [h('h1', {}, title)]);
      fail(error);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Rate limits and credits

  function rateLimitText(limit) {
    if (!limit) return 'none';
    return limit.requests + ' / ' + limit.window_seconds + ' s';
  }

  function creditsText(credits) {
    if (!credits) return 'unlimited';
    var text = credits.remaining + ' left';
    if (credits.refill) {
      text += ', refilled to ' + credits.refill.amount + ' every ' + credits.refill.interval_seconds + ' s';
    }
    return text;
  }

  function rateLimitCell(limit) {
    return h('span', { class: limit ? null : 'muted', 'data-testid': 'key-rate-limit' }, rateLimitText(limit));
  }

  function creditsCell(credits) {
    return h('span', { class: credits ? null : 'muted', 'data-testid': 'key-credits' }, creditsText(credits));
  }

  // The inputs of a key's rate limit and credits, filled with `key`'s (empty for a new key).
  function limitFields(key, optional) {
    var rate = key ? key.rate_limit : null;
    var credits = key ? key.credits : null;
    var refill = credits ? credits.refill : null;
    function field(name, label, value, min, testid) {
      var id = nextId(name.replace(/_/g, '-'));
      return h('div', { class: 'field' },
        h('label', { for: id }, label),
        h('input', {
          id: id, name: name, type: 'number', inputmode: 'numeric', min: min, step: 1,
          value: value === null || value === undefined ? '' : value, autocomplete: 'off', 'data-testid': testid
        }));
    }
    var suffix = optional ? ' (optional)' : '';
    return [
      h('fieldset', { class: 'fieldset' },
        h('legend', {}, 'Rate limit' + suffix),
        h('div', { class: 'limit-fields' },
          field('rate_requests', 'Requests', rate ? rate.requests : null, 1, 'limit-requests'),
          field('rate_window', 'Window (seconds)', rate ? rate.window_seconds : null, 1, 'limit-window')),
        h('p', { class: 'hint' }, 'At most this many requests per window. Leave Requests empty for no rate limit; the window is 60 seconds if left empty.')),
      h('fieldset', { class: 'fieldset' },
        h('legend', {}, 'Credits' + suffix),
        h('div', { class: 'limit-fields' },
          field('credits_remaining', 'Credits remaining', credits ? credits.remaining : null, 0, 'limit-credits'),
          field('refill_amount', 'Refill amount', refill ? refill.amount : null, 0, 'limit-refill-amount'),
          field('refill_interval', 'Refill interval (seconds)', refill ? refill.interval_seconds : null, 1, 'limit-refill-interval')),
        h('p', { class: 'hint' }, 'Each accepted request spends one credit; with none left, requests are refused. Leave all three empty for unlimited use. With a refill, the credits are set back to the amount every interval, and the remaining credits default to the amount.'))
    ];
  }

  function wholeNumber(input) {
    var text = input.value.trim();
    if ((input.validity && input.validity.badInput) || (text && !/^-?\d+$/.test(text))) {
      throw new FormError(fieldLabel(input) + ' is a whole number.', input);
    }
    return text ? Number(text) : null;
  }

  // {rate_limit, credits} as the form's limit fields ask: null for a part left empty.
  function readLimits(form) {
    var e = form.elements;
    var requests = wholeNumber(e.rate_requests);
    var windowSeconds = wholeNumber(e.rate_window);
    var remaining = wholeNumber(e.credits_remaining);
    var amount = wholeNumber(e.refill_amount);
    var interval = wholeNumber(e.refill_interval);
    var rateLimit = null;
    if (requests !== null) {
      rateLimit = { requests: requests };
      if (windowSeconds !== null) rateLimit.window_seconds = windowSeconds;
    }
    var credits = null;
    if (remaining !== null || amount !== null || interval !== null) {
      credits = {};
      if (remaining !== null) credits.remaining = remaining;
      if (amount !== null || interval !== null) {
        credits.refill = {};
        if (amount !== null) credits.refill.amount = amount;
        if (interval !== null) credits.refill.interval_seconds = interval;
      }
    }
    return { rate_limit: rateLimit, credits: credits };
  }

  // The input to fix for an error the server answered about a limit field.
  function limitInput(form, error) {
    var field = error instanceof ApiError && error.detail && error.detail.field;
    if (field === 'rate_limit') return form.elements.rate_requests;
    if (field === 'credits') return form.elements.credits_remaining;
    return error instanceof FormError ? error.input : null;
  }

  // ---------------------------------------------------------------------------------------
  // Key policies: expiry, client networks, routes

  function expiryText(ms) {
    if (ms === null || ms === undefined) return 'never';
    return new Date(ms).toLocaleString();
  }

  function expiryCell(ms) {
    var expired = ms !== null && ms !== undefined && ms <= Date.now();
    return h('span', { class: ms ? (expired ? 'badge badge-revoked' : null) : 'muted', 'data-testid': 'key-expires' },
      expired ? 'expired ' + expiryText(ms) : expiryText(ms));
  }

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
      els.notice.textContent = '';
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
        permissionFieldset('Permissions', [], 'new-key-perm'),
        limitFields(null, true),
        publicKeyFields()
      ],
      onConfirm: function (form) {
        var data = { name: form.elements.name.value.trim(), permissions: checkedPermissions(form) };
        var limits = readLimits(form);
        if (limits.rate_limit) data.rate_limit = limits.rate_limit;
        if (limits.credits) data.credits = limits.credits;
        var publicKey = form.elements.public_key.value.trim();
        if (publicKey) {
          data.public_key = publicKey;
          if (form.elements.algorithm.value) data.algorithm = form.elements.algorithm.value;
        }
        return api('POST', '/console/api/admin/keys', { data: data }).then(function (answer) { return answer.data; });
      }
    }).then(function (key) {
      if (!key) return;
      if (key.secret) {
        state.fresh = { id: key.id, secret: key.secret, revealed: false };
        notify('API key “' + key.name + '” created. Copy its secret now: it is not shown again.');
      } else {
        notify('API key “' + key.name + '” created with an ' + key.algorithm + ' public key: the application signs with its private key.');
      }
      location.hash = '#/keys/' + key.id;
    });
  }

  function renderKey(generation, id, keepFocus) {
    var title = 'API Key';
    if (!has('keys:manage')) return denied(generation, title, 'keys:manage');
    if (!/^\d+$/.test(id)) return renderNotFound(generation);
    if (!keepFocus) loading(generation, title);
    Promise.all([api('GET', '/console/api/admin/keys/' + id), loadUserNames()]).then(function (results) {
      showKey(generation, results[0].data, keepFocus);
    }, function (error) {
      if (generation !== state.generation) return;
      setView(generation, title, [
        h('p', {}, h('a', { href: '#/keys' }, '← All API keys')),
        h('h1', {}, title)
      ]);
      fail(error);
    });
  }

  function rerenderKey(id) {
    state.generation += 1;
    renderKey(state.generation, String(id), true);
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

    // Limits
    var limitsForm = h('form', { class: 'form', 'data-testid': 'limits-form', novalidate: true },
      limitFields(key, false),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button', 'data-testid': 'save-limits' }, 'Save')));
    limitsForm.addEventListener('submit', function (event) {
      event.preventDefault();
      clearError();
      els.notice.textContent = ''; // an earlier "saved" would contradict an error about to be shown
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

    // Secret, or the public key that takes its place
    var secretBlock;
    if (key.public_key) {
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
              state.fresh = { id: key.id, secret: answer.data.secret, revealed: true };
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
          key.public_key ? null : h('div', { class: 'action-item' },
            h('button', { type: 'button', class: 'button', 'data-testid': 'rotate-secret', onclick: function () { rotateSecret(key); } }, 'Rotate secret'),
            h('p', { class: 'hint' }, 'Issues a new secret; the old one keeps working for an overlap you choose.')),
          h('div', { class: 'action-item' },
            h('button', { type: 'button', class: 'button button-danger', 'data-testid': 'revoke', onclick: function () { revokeKey(key); } }, 'Revoke'),
            h('p', { class: 'hint' }, 'Refuses this key for good. This cannot be undone.'))));
    }

    var details = h('dl', { class: 'details' },
      h('dt', {}, 'Id'), h('dd', { 'data-testid': 'key-id' }, String(key.id)),
      h('dt', {}, 'State'), h('dd', { 'data-testid': 'key-state' }, badge(key.state)),
      h('dt', {}, 'Kind'), h('dd', {}, key.kind || '—'),
      h('dt', {}, 'Signs with'), h('dd', { 'data-testid': 'key-algorithm' }, key.public_key ? key.algorithm + ' (public key)' : 'a secret (' + key.algorithm + ')'),
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
      active ? h('section', { class: 'panel', 'aria-labelledby': 'rename-title' },
        h('h2', { id: 'rename-title' }, 'Name'), renameForm) : null,
      active ? h('section', { class: 'panel', 'aria-labelledby': 'limits-title' },
        h('h2', { id: 'limits-title' }, 'Limits'), limitsForm) : null,
      active ? h('section', { class: 'panel', 'aria-labelledby': 'policy-title' },
        h('h2', { id: 'policy-title' }, 'Policy'), policyForm(key)) : null,
      h('section', { class: 'panel', 'aria-labelledby': 'credentials-title' },
        h('h2', { id: 'credentials-title' }, 'Credentials'),
        h('h3', {}, 'Token'),
        tokenBlock,
        h('h3', {}, key.public_key ? 'Public key' : 'Secret'),
        secretBlock),
      actions
    ], keepFocus);
  }

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
    openDialog({
      title: 'Rotate secret?',
      testid: 'rotate-dialog',
      confirmLabel: 'Rotate secret',
      danger: true,
      body: [
        h('p', {}, 'A new secret is issued and shown once. The current secret keeps working during the overlap, so applications can switch without downtime.'),
        h('div', { class: 'field' },
          h('label', { for: overlapId }, 'Overlap (seconds)'),
          h('input', {
            id: overlapId, name: 'overlap', type: 'number', inputmode: 'numeric', min: 0, max: MAX_OVERLAP_SECONDS, step: 1,
            required: true, value: DEFAULT_OVERLAP_SECONDS, 'aria-describedby': overlapId + '-help', 'data-testid': 'overlap-seconds'
          }),
          h('p', { id: overlapId + '-help', class: 'hint' }, '86400 seconds is 1 day (the default); 0 stops the old secret at once; at most 2592000 (30 days).'))
      ],
      onConfirm: function (form) {
        var seconds = Number(form.elements.overlap.value);
        return api('POST', '/console/api/admin/keys/' + key.id + '/rotate-secret', { data: { overlap_seconds: seconds } })
          .then(function (answer) { return answer.data; });
      }
    }).then(function (rotated) {
      if (!rotated) return;
      state.fresh = { id: key.id, secret: rotated.secret, revealed: false };
      notify('New secret issued. Copy it now: it is not shown again.');
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
      state.fresh = null;
      notify('API key “' + key.name + '” revoked.');
      rerenderKey(key.id);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Users

  function renderUsers(generation, keepFocus) {
    var title = 'Users';
    if (!has('users:manage')) return denied(generation, title, 'users:manage');
    if (!keepFocus) loading(generation, title);
    api('GET', '/console/api/admin/users').then(function (answer) {
      var users = answer.data || [];
      users.forEach(function (u) { userNames[u.id] = u.username; });
      var rows = users.map(function (user) {
        var self = user.username === state.session.username;
        var enabled = user.state === 'active';
        return {
          attrs: { 'data-testid': 'user-row', 'data-username': user.username },
          cells: [
            user.username,
            String(user.id),
            badge(user.state),
            (user.permissions || []).length
              ? h('ul', { class: 'tags' }, user.permissions.map(function (p) { return h('li', {}, h('code', {}, p)); }))
              : h('span', { class: 'muted' }, 'None'),
            timeCell(user.created_at_ms),
            h('div', { class: 'row-actions' },
              h('button', {
                type: 'button', class: 'button button-small', 'data-testid': 'edit-permissions-' + user.username,
                onclick: function () { editPermissions(user); }
              }, 'Permissions', h('span', { class: 'visually-hidden' }, ' of ' + user.username)),
              self ? h('span', { class: 'muted' }, '(you)') : h('button', {
                type: 'button', class: 'button button-small' + (enabled ? ' button-danger' : ''),
                'data-testid': (enabled ? 'disable-' : 'enable-') + user.username,
                onclick: function () { setUserState(user, enabled ? 'disabled' : 'active'); }
              }, enabled ? 'Disable' : 'Enable', h('span', { class: 'visually-hidden' }, ' ' + user.username)))
          ]
        };
      });
      setView(generation, title, [
        h('h1', {}, title),
        table('The domain\'s users', ['User name', 'Id', 'State', 'Permissions', 'Created', 'Actions'], rows, 'No users.', 'users-table'),
        newUserForm()
      ], keepFocus);
    }, function (error) {
      if (generation !== state.generation) return;
      setView(generation, title, [h('h1', {}, title)]);
      fail(error);
    });
  }

  function rerenderUsers() {
    state.generation += 1;
    renderUsers(state.generation, true);
  }

  function newUserForm() {
    var userId = nextId('new-user-name');
    var passId = nextId('new-user-password');
    var form = h('form', { class: 'form', 'data-testid': 'new-user-form', novalidate: true },
      h('div', { class: 'field' },
        h('label', { for: userId }, 'User name'),
        h('input', { id: userId, name: 'username', type: 'text', required: true, maxlength: 100, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', 'data-testid': 'new-user-name' })),
      h('div', { class: 'field' },
        h('label', { for: passId }, 'Password'),
        h('input', { id: passId, name: 'password', type: 'password', required: true, minlength: 12, autocomplete: 'new-password', 'aria-describedby': passId + '-help', 'data-testid': 'new-user-password' }),
        h('p', { id: passId + '-help', class: 'hint' }, 'At least 12 characters.')),
      permissionFieldset('Permissions', [], 'new-user-perm'),
      h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'create-user' }, 'Create user')));
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      clearError();
      var username = form.elements.username.value.trim();
      var password = form.elements.password.value;
      if (!username) { showError('Enter a user name.'); form.elements.username.focus(); return; }
      if (password.length < 12) { showError('The password needs at least 12 characters.'); form.elements.password.focus(); return; }
      api('POST', '/console/api/admin/users', {
        data: { username: username, password: password, permissions: checkedPermissions(form) }
      }).then(function (answer) {
        notify('User “' + answer.data.username + '” created.');
        rerenderUsers();
      }, fail);
    });
    return h('section', { class: 'panel', 'aria-labelledby': 'new-user-title' },
      h('h2', { id: 'new-user-title' }, 'New user'), form);
  }

  function setUserState(user, newState) {
    clearError();
    var change = function () {
      return api('PATCH', '/console/api/admin/users/' + user.id, { data: { state: newState } });
    };
    var done = function (answer) {
      if (!answer) return;
      notify('User “' + user.username + '” ' + (newState === 'active' ? 'enabled.' : 'disabled.'));
      rerenderUsers();
    };
    if (newState === 'disabled') {
      confirmDialog('Disable “' + user.username + '”?',
        'The user can no longer sign in or use the API until enabled again. Nothing is deleted.',
        'Disable user', change, 'disable-dialog').then(done);
    } else {
      change().then(done, fail);
    }
  }

  function editPermissions(user) {
    clearError();
    var notHeld = (user.permissions || []).filter(function (p) { return !has(p); });
    openDialog({
      title: 'Permissions of “' + user.username + '”',
      testid: 'permissions-dialog',
      confirmLabel: 'Save permissions',
      body: [
        permissionFieldset('Permissions', user.permissions || [], 'edit-perm'),
        notHeld.length ? h('p', { class: 'hint' }, 'The user also holds ' + notHeld.join(', ') + ', which you do not hold and cannot grant.') : null
      ],
      onConfirm: function (form) {
        var permissions = checkedPermissions(form).concat(notHeld);
        return api('PATCH', '/console/api/admin/users/' + user.id, { data: { permissions: permissions } });
      }
    }).then(function (answer) {
      if (!answer) return;
      notify('Permissions of “' + user.username + '” saved.');
      rerenderUsers();
    });
  }

  // ---------------------------------------------------------------------------------------
  // Audit log

  function renderAudit(generation, query) {
    var title = 'Audit log';
    if (!has('audit:read')) return denied(generation, title, 'audit:read');
    var page = Math.max(1, parseInt(query.page, 10) || 1);
    var application = query.application || '';
    var userId = query.userId || '';
    if (userId && !/^\d+$/.test(userId)) userId = '';
    var params = buildQuery({ application: application, userId: userId, page: page, pageSize: AUDIT_PAGE_SIZE });
    loading(generation, title);
    api('GET', '/console/api/admin/audit' + params).then(function (answer) {
      var records = answer.data || [];
      var paging = answer.paging || { page: page, pageSize: AUDIT_PAGE_SIZE, total: records.length };
      var total = paging.total || 0;
      var size = paging.pageSize || AUDIT_PAGE_SIZE;
      var pages = Math.max(1, Math.ceil(total / size));
      var rows = records.map(function (r) {
        return {
          attrs: { 'data-testid': 'audit-row' },
          cells: [
            timeCell(r.at_ms),
            r.actor_name || '—',
            r.application || h('span', { class: 'muted' }, '—'),
            h('code', {}, r.action),
            r.target_type === 'api_key' && /^\d+$/.test(String(r.target_id))
              ? h('a', { href: '#/keys/' + r.target_id }, 'api_key ' + r.target_id)
              : (r.target_type || '') + ' ' + (r.target_id || ''),
            h('code', { class: 'request-id' }, r.request_id || '')
          ]
        };
      });
      var go = function (p) {
        location.hash = '#/audit' + buildQuery({ application: application, userId: userId, page: p > 1 ? p : '' });
      };
      var appId = nextId('audit-application');
      var userFieldId = nextId('audit-user');
      var filters = h('form', { class: 'form form-inline filters', role: 'search', 'aria-label': 'Filter the audit log', 'data-testid': 'audit-filters', novalidate: true },
        h('div', { class: 'field' },
          h('label', { for: appId }, 'Application'),
          h('input', { id: appId, name: 'application', type: 'text', value: application, autocomplete: 'off', 'data-testid': 'audit-application' })),
        h('div', { class: 'field' },
          h('label', { for: userFieldId }, 'User id'),
          h('input', { id: userFieldId, name: 'userId', type: 'number', inputmode: 'numeric', min: 1, step: 1, value: userId, 'data-testid': 'audit-user-id' })),
        h('button', { type: 'submit', class: 'button button-primary', 'data-testid': 'audit-filter' }, 'Filter'),
        (application || userId) ? h('a', { href: '#/audit', class: 'button', 'data-testid': 'audit-clear' }, 'Clear filters') : null);
      filters.addEventListener('submit', function (event) {
        event.preventDefault();
        var uidValue = filters.elements.userId.value.trim();
        if (uidValue && !/^\d+$/.test(uidValue)) {
          showError('The user id is a whole number.');
          filters.elements.userId.focus();
          return;
        }
        location.hash = '#/audit' + buildQuery({ application: filters.elements.application.value.trim(), userId: uidValue });
      });
      var pager = h('nav', { class: 'pager', 'aria-label': 'Audit log pages' },
        h('button', { type: 'button', class: 'button', 'data-testid': 'audit-previous', disabled: page <= 1, onclick: function () { go(page - 1); } }, '← Previous'),
        h('p', { class: 'pager-status', 'data-testid': 'audit-page' }, 'Page ' + page + ' of ' + pages + ' · ' + total + (total === 1 ? ' record' : ' records')),
        h('button', { type: 'button', class: 'button', 'data-testid': 'audit-next', disabled: page >= pages, onclick: function () { go(page + 1); } }, 'Next →'));
      setView(generation, title, [
        h('h1', {}, title),
        filters,
        table('Audit records, newest first', ['When', 'Actor', 'Application', 'Action', 'Target', 'Request id'], rows, 'No records match.', 'audit-table'),
        pager
      ]);
    }, function (error) {
      if (generation !== state.generation) return;
      setView(generation, title, [h('h1', {}, title)]);
      fail(error);
    });
  }

  // ---------------------------------------------------------------------------------------
  // Start

  function start() {
    els.error = document.getElementById('error');
    els.notice = document.getElementById('notice');
    els.signIn = document.getElementById('sign-in');
    els.view = document.getElementById('view');
    els.nav = document.getElementById('nav');
    els.navUsers = els.nav.querySelector('[data-route=users]');
    els.navAudit = els.nav.querySelector('[data-route=audit]');
    els.account = document.getElementById('account');
    els.accountName = document.getElementById('account-name');

    document.getElementById('sign-in-form').addEventListener('submit', onSignIn);
    document.getElementById('sign-out').addEventListener('click', onSignOut);
    document.getElementById('skip-link').addEventListener('click', function (event) {
      event.preventDefault();
      var target = els.view.hidden ? document.getElementById('sign-in-username') : (els.view.querySelector('h1') || els.view);
      if (target.tagName === 'H1') target.setAttribute('tabindex', '-1');
      target.focus();
    });
    window.addEventListener('hashchange', function () { route(false); });

    api('GET', '/console/session').then(function (answer) {
      startApp(answer.data);
    }, function (error) {
      showSignIn();
      if (!(error instanceof ApiError && error.status === 401)) showError(describe(error));
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());

// keyward console: a small single-page app over keyward's JSON API.
//
// Served under a strict Content-Security-Policy: no inline script or style, nothing from
// another origin, no eval. Every element is built with the DOM API (never innerHTML), so a
// name typed by a user can never become markup.
//
// Session: the server keeps the session in an HttpOnly cookie (kw_session); requests that
// change something repeat the readable kw_csrf cookie in the X-CSRF-Token header.
//
// This module is the entry point (index.html loads it as a module): signing in and out,
// routing the address's hash to a page, and starting the console. The modules it imports:
// state.js (the one state object), api.js (the fetch wrapper), dom.js (element helpers),
// messages.js, page.js (the view area and the address), widgets.js (dialogs, permission
// checkboxes, copy buttons), limits.js, keys.js, key.js, usage.js (the usage charts),
// users.js and audit.js.

import { ApiError, api, describe } from "./api.js";
import { renderAudit } from "./audit.js";
import { els, findElements } from "./dom.js";
import { renderKey } from "./key.js";
import { renderKeys } from "./keys.js";
import { clearError, clearOldNotice, notify, showError } from "./messages.js";
import { parseHash, renderNotFound, showSignIn } from "./page.js";
import { endSession, forgetSecret, has, nextGeneration, startSession, state } from "./state.js";
import { renderUsage } from "./usage.js";
import { renderUsers } from "./users.js";

function startApp(session) {
  startSession(session);
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
    endSession();
    showSignIn();
    notify('Signed out.');
  }, function (error) {
    if (error instanceof ApiError && error.status === 401) {
      endSession();
      showSignIn();
      return;
    }
    showError(describe(error));
  });
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
    forgetSecret();
  }
  var generation = nextGeneration();
  if (page === 'keys' && where.parts[1]) renderKey(generation, where.parts[1]);
  else if (page === 'keys') renderKeys(generation);
  else if (page === 'usage') renderUsage(generation, where.query);
  else if (page === 'users') renderUsers(generation);
  else if (page === 'audit') renderAudit(generation, where.query);
  else renderNotFound(generation);
}

function start() {
  findElements();

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

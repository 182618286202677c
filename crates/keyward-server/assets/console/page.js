// The page around the views: its address (the hash), the view area each page fills (or the
// not-found and permission-denied pages), and the sign-in form a page goes back to when its
// session has ended.

import { describe, endsSession } from "./api.js";
import { append, clear, els, h } from "./dom.js";
import { showError } from "./messages.js";
import { endSession, isCurrent, nextGeneration, state } from "./state.js";

export function parseHash() {
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

export function buildQuery(query) {
  var pairs = Object.keys(query).filter(function (k) {
    return query[k] !== '' && query[k] !== null && query[k] !== undefined;
  }).map(function (k) {
    return encodeURIComponent(k) + '=' + encodeURIComponent(query[k]);
  });
  return pairs.length ? '?' + pairs.join('&') : '';
}

// Sets the page's content (if it is still the current page) and moves focus to its heading.
export function setView(generation, title, nodes, keepFocus) {
  if (!isCurrent(generation)) return false;
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

export function loading(generation, title) {
  setView(generation, title, [h('h1', {}, title), h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…')]);
}

export function renderNotFound(generation) {
  setView(generation, 'Not found', [
    h('h1', {}, 'Page not found'),
    h('p', {}, 'There is no such page. ', h('a', { href: '#/keys' }, 'Go to the API keys'), '.')
  ]);
}

export function denied(generation, title, permission) {
  setView(generation, title, [
    h('h1', {}, title),
    h('p', { class: 'message message-info' }, 'You need the ', h('code', {}, permission),
      ' permission to see this page. Ask an administrator.')
  ]);
}

export function showSignIn() {
  nextGeneration();
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

// A failure on a page: an ended session goes back to the sign-in form, anything else is shown.
export function fail(error) {
  if (endsSession(error) && state.session) {
    endSession();
    showSignIn();
    showError('Your session has ended. Sign in again.');
    return;
  }
  showError(describe(error));
}

// A key's limits: its rate limit and credits (as text, as table cells, and as form fields read
// back into what the API takes), and its expiry as text and as a cell.

import { ApiError, FormError } from "./api.js";
import { fieldLabel, h, nextId } from "./dom.js";

export function rateLimitText(limit) {
  if (!limit) return 'none';
  return limit.requests + ' / ' + limit.window_seconds + ' s';
}

export function creditsText(credits) {
  if (!credits) return 'unlimited';
  var text = credits.remaining + ' left';
  if (credits.refill) {
    text += ', refilled to ' + credits.refill.amount + ' every ' + credits.refill.interval_seconds + ' s';
  }
  return text;
}

export function rateLimitCell(limit) {
  return h('span', { class: limit ? null : 'muted', 'data-testid': 'key-rate-limit' }, rateLimitText(limit));
}

export function creditsCell(credits) {
  return h('span', { class: credits ? null : 'muted', 'data-testid': 'key-credits' }, creditsText(credits));
}

// The inputs of a key's rate limit and credits, filled with `key`'s (empty for a new key).
export function limitFields(key, optional) {
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
export function readLimits(form) {
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
export function limitInput(form, error) {
  var field = error instanceof ApiError && error.detail && error.detail.field;
  if (field === 'rate_limit') return form.elements.rate_requests;
  if (field === 'credits') return form.elements.credits_remaining;
  return error instanceof FormError ? error.input : null;
}

export function expiryText(ms) {
  if (ms === null || ms === undefined) return 'never';
  return new Date(ms).toLocaleString();
}

// How long before its expiry a key is marked "expires soon" (the server's default warning).
var SOON_MS = 7 * 86400000;

// A key's state as it acts now: "expired" once its policy's expiry has passed (its requests
// are refused, code 29) though the API still calls it active, and "expires soon" beside
// "active" in its last 7 days.
export function keyStateBadge(key) {
  var at = key.expires_at_ms;
  var left = at === null || at === undefined ? Infinity : at - Date.now();
  if (key.state === 'active' && left <= 0) {
    return h('span', { class: 'badge badge-expired', 'data-testid': 'key-state-badge' }, 'expired');
  }
  var state = h('span', { class: 'badge badge-' + String(key.state).replace(/[^a-z]/g, ''), 'data-testid': 'key-state-badge' }, key.state);
  if (key.state === 'active' && left <= SOON_MS) {
    return [state, ' ', h('span', { class: 'badge badge-soon', 'data-testid': 'key-expires-soon', title: 'Expires ' + expiryText(at) }, 'expires soon')];
  }
  return state;
}

export function expiryCell(ms) {
  var expired = ms !== null && ms !== undefined && ms <= Date.now();
  return h('span', { class: ms ? (expired ? 'badge badge-revoked' : null) : 'muted', 'data-testid': 'key-expires' },
    expired ? 'expired ' + expiryText(ms) : expiryText(ms));
}

// Usage: a key's requests over a window (a panel on its page) and the domain's (the Usage
// page), drawn here as an SVG bar chart: accepted requests at the bottom of each bar, refused
// ones stacked on top, in the two colours the totals above the chart are written in; each bar
// carries its numbers as a tooltip, and a table under the chart holds them all for screen
// readers and for copying. Counts reach the server in batches, within seconds.

import { api } from "./api.js";
import { append, clear, h, table } from "./dom.js";
import { buildQuery, denied, fail, loading, setView } from "./page.js";
import { has, isCurrent } from "./state.js";

// The windows offered, each with the bucket that draws it.
var WINDOWS = [
  { id: 'hour', label: 'Last hour', bucket: 'minute', span: 'the last hour' },
  { id: 'day', label: 'Last 24 hours', bucket: 'hour', span: 'the last 24 hours' },
  { id: 'month', label: 'Last 30 days', bucket: 'day', span: 'the last 30 days' }
];

// What the refusal codes mean, in a few words (docs/errors.md has them all).
var CODE_NAMES = {
  10: 'no credentials', 11: 'malformed credentials', 12: 'invalid signature',
  13: 'unknown or revoked', 14: 'stale request', 15: 'replayed', 16: 'ambiguous credentials',
  17: 'wrong key kind', 18: 'scheme not allowed', 19: 'digest mismatch',
  20: 'permission denied', 22: 'token expired', 24: 'signature reused',
  26: 'body not forwarded', 27: 'rate limited', 28: 'credits spent', 29: 'key expired',
  44: 'address not allowed', 45: 'route not allowed', 47: 'method override refused',
  51: 'database unavailable', 55: 'certificate required'
};

function windowOf(id) {
  return WINDOWS.filter(function (w) { return w.id === id; })[0] || WINDOWS[1];
}

function codeName(code) {
  return 'code ' + code + (CODE_NAMES[code] ? ' (' + CODE_NAMES[code] + ')' : '');
}

function count(n) {
  return Number(n || 0).toLocaleString();
}

var SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, text) {
  var el = document.createElementNS(SVG, tag);
  Object.keys(attrs || {}).forEach(function (name) { el.setAttribute(name, String(attrs[name])); });
  if (text !== undefined) el.textContent = text;
  return el;
}

// The smallest 1, 2 or 5 times a power of ten at or above n.
function ceiling(n) {
  if (n <= 1) return 1;
  var power = Math.pow(10, Math.floor(Math.log10(n)));
  var steps = [1, 2, 5, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * power >= n) return steps[i] * power;
  return 10 * power;
}

function bucketLabel(ms, bucket) {
  var date = new Date(ms);
  var options = bucket === 'day'
    ? { month: 'short', day: 'numeric', timeZone: 'UTC' }
    : { hour: '2-digit', minute: '2-digit' };
  try {
    return new Intl.DateTimeFormat(undefined, options).format(date);
  } catch (e) {
    return date.toISOString();
  }
}

// The bar chart of `buckets` ({start_ms, accepted, refused}), one bar per bucket.
export function usageChart(buckets, bucket, summary) {
  var width = 720, height = 220, left = 48, right = 8, top = 12, bottom = 30;
  var plot = height - top - bottom;
  var max = ceiling(buckets.reduce(function (most, b) { return Math.max(most, b.accepted + b.refused); }, 0));
  var slot = (width - left - right) / Math.max(buckets.length, 1);
  var bar = Math.max(1, slot * 0.78);
  var chart = svg('svg', {
    viewBox: '0 0 ' + width + ' ' + height, class: 'usage-svg', role: 'img',
    'aria-label': summary, 'data-testid': 'usage-svg'
  });
  [0, max / 2, max].forEach(function (value) {
    var y = top + plot - (value / max) * plot;
    chart.appendChild(svg('line', { x1: left, x2: width - right, y1: y, y2: y, class: value ? 'usage-grid' : 'usage-axis' }));
    chart.appendChild(svg('text', { x: left - 6, y: y + 4, class: 'usage-tick', 'text-anchor': 'end' }, count(value)));
  });
  buckets.forEach(function (b, i) {
    var x = left + i * slot + (slot - bar) / 2;
    var accepted = (b.accepted / max) * plot;
    var refused = (b.refused / max) * plot;
    var group = svg('g', { 'data-testid': 'usage-bar', 'data-accepted': b.accepted, 'data-refused': b.refused });
    group.appendChild(svg('title', {}, bucketLabel(b.start_ms, bucket) + ': ' + count(b.accepted) + ' accepted, ' + count(b.refused) + ' refused'));
    if (accepted > 0) group.appendChild(svg('rect', { x: x, y: top + plot - accepted, width: bar, height: accepted, class: 'usage-accepted' }));
    if (refused > 0) group.appendChild(svg('rect', { x: x, y: top + plot - accepted - refused, width: bar, height: refused, class: 'usage-refused' }));
    // The whole column answers the pointer, even where its bar is short.
    group.appendChild(svg('rect', { x: left + i * slot, y: top, width: slot, height: plot, class: 'usage-hit' }));
    chart.appendChild(group);
  });
  var labelled = buckets.length > 1 ? [0, Math.floor((buckets.length - 1) / 2), buckets.length - 1] : [0];
  labelled.forEach(function (i, n) {
    if (!buckets[i]) return;
    var x = left + i * slot + slot / 2;
    var anchor = n === 0 ? 'start' : n === labelled.length - 1 ? 'end' : 'middle';
    if (n === 0) x = left;
    if (n === labelled.length - 1 && labelled.length > 1) x = width - right;
    chart.appendChild(svg('text', { x: x, y: height - 8, class: 'usage-tick', 'text-anchor': anchor }, bucketLabel(buckets[i].start_ms, bucket)));
  });
  return chart;
}

// "Accepted 120 · Refused 3", each in its bars' colour.
function totals(tally) {
  return h('p', { class: 'usage-totals' },
    h('span', { class: 'usage-total' }, h('span', { class: 'swatch swatch-accepted', 'aria-hidden': 'true' }), 'Accepted ',
      h('strong', { 'data-testid': 'usage-accepted' }, count(tally.accepted))),
    h('span', { class: 'usage-total' }, h('span', { class: 'swatch swatch-refused', 'aria-hidden': 'true' }), 'Refused ',
      h('strong', { 'data-testid': 'usage-refused' }, count(tally.refused))));
}

// The refusals by code and the requests by route, as two short lists.
function breakdown(tally) {
  var codes = Object.keys(tally.by_code || {}).sort(function (a, b) { return tally.by_code[b] - tally.by_code[a]; });
  var routes = Object.keys(tally.by_route || {}).sort();
  return h('div', { class: 'usage-breakdown' },
    h('div', {},
      h('h3', {}, 'Refused, by code'),
      codes.length
        ? h('ul', { class: 'usage-list', 'data-testid': 'usage-codes' }, codes.map(function (code) {
          return h('li', { 'data-code': code }, h('span', {}, codeName(code)), h('strong', {}, count(tally.by_code[code])));
        }))
        : h('p', { class: 'muted' }, 'Nothing refused.')),
    h('div', {},
      h('h3', {}, 'By route'),
      routes.length
        ? h('ul', { class: 'usage-list', 'data-testid': 'usage-routes' }, routes.map(function (route) {
          var r = tally.by_route[route];
          return h('li', {}, h('code', {}, route), h('span', {}, count(r.accepted) + ' accepted, ' + count(r.refused) + ' refused'));
        }))
        : h('p', { class: 'muted' }, 'No requests.')));
}

function sum(buckets) {
  var tally = { accepted: 0, refused: 0, by_code: {}, by_route: {} };
  buckets.forEach(function (b) {
    tally.accepted += b.accepted;
    tally.refused += b.refused;
    Object.keys(b.by_code || {}).forEach(function (code) {
      tally.by_code[code] = (tally.by_code[code] || 0) + b.by_code[code];
    });
    Object.keys(b.by_route || {}).forEach(function (route) {
      var into = tally.by_route[route] || (tally.by_route[route] = { accepted: 0, refused: 0 });
      into.accepted += b.by_route[route].accepted;
      into.refused += b.by_route[route].refused;
    });
  });
  return tally;
}

// The numbers of the busy buckets, for screen readers and copying.
function numbers(buckets, bucket) {
  var busy = buckets.filter(function (b) { return b.accepted + b.refused > 0; });
  return h('details', { class: 'usage-numbers' },
    h('summary', {}, 'The numbers'),
    table('Requests per ' + bucket, ['From', 'Accepted', 'Refused'], busy.map(function (b) {
      return { cells: [bucketLabel(b.start_ms, bucket), count(b.accepted), count(b.refused)] };
    }), 'No requests in this window.', 'usage-table'));
}

// The window buttons; `choose(id)` is called with the one pressed.
function windowPicker(current, choose) {
  return h('div', { class: 'usage-windows', role: 'group', 'aria-label': 'Window' },
    WINDOWS.map(function (w) {
      return h('button', {
        type: 'button', class: 'button button-small', 'aria-pressed': w.id === current.id ? 'true' : 'false',
        'data-testid': 'usage-window-' + w.id, onclick: function () { choose(w.id); }
      }, w.label);
    }));
}

function chartBlock(buckets, tally, win, what) {
  var summary = what + ' over ' + win.span + ': ' + count(tally.accepted) + ' accepted, ' + count(tally.refused) + ' refused';
  return [
    totals(tally),
    h('figure', { class: 'usage-chart', 'data-testid': 'usage-chart' },
      usageChart(buckets, win.bucket, summary),
      h('figcaption', { class: 'hint' }, 'Requests per ' + win.bucket + ' over ' + win.span + '. Point at a bar for its numbers.')),
    breakdown(tally),
    numbers(buckets, win.bucket)
  ];
}

// The Usage panel of key `id`'s page: filled when its numbers arrive, redrawn for another window.
export function usagePanel(id) {
  var body = h('div', { 'data-testid': 'key-usage' }, h('p', { class: 'muted', 'aria-busy': 'true' }, 'Loading…'));
  var panel = h('section', { class: 'panel', 'aria-labelledby': 'usage-title' },
    h('h2', { id: 'usage-title' }, 'Usage'), body);
  function show(windowId) {
    var win = windowOf(windowId);
    api('GET', '/console/api/admin/keys/' + id + '/usage' + buildQuery({ bucket: win.bucket })).then(function (answer) {
      var buckets = answer.data || [];
      clear(body);
      append(body, [windowPicker(win, show), chartBlock(buckets, sum(buckets), win, 'This key\'s requests')]);
      body.setAttribute('data-window', win.id);
    }, function (error) {
      clear(body);
      append(body, h('p', { class: 'muted' }, 'The usage could not be loaded.'));
      fail(error);
    });
  }
  show('day');
  return panel;
}

// The Usage page: the domain's requests over a window, and its busiest keys.
export function renderUsage(generation, query) {
  var title = 'Usage';
  if (!has('keys:manage')) return denied(generation, title, 'keys:manage');
  var win = windowOf(query.window);
  loading(generation, title);
  api('GET', '/console/api/admin/usage' + buildQuery({ bucket: win.bucket, keys: 10 })).then(function (answer) {
    var usage = answer.data;
    var rows = (usage.keys || []).map(function (key) {
      var codes = Object.keys(key.by_code || {}).sort(function (a, b) { return key.by_code[b] - key.by_code[a]; });
      return {
        attrs: { 'data-testid': 'busiest-key', 'data-key-id': key.key_id },
        cells: [
          h('a', { href: '#/keys/' + key.key_id }, key.name || 'key ' + key.key_id),
          count(key.accepted),
          count(key.refused),
          codes.length ? codes.slice(0, 3).map(function (code) { return codeName(code) + ': ' + count(key.by_code[code]); }).join(', ') : '—'
        ]
      };
    });
    setView(generation, title, [
      h('h1', {}, title),
      h('p', { class: 'muted' }, 'Requests made with the domain\'s API keys (and the access tokens minted from them), accepted and refused, as every node counted them.'),
      h('section', { class: 'panel', 'aria-labelledby': 'traffic-title', 'data-testid': 'domain-usage', 'data-window': win.id },
        h('h2', { id: 'traffic-title' }, 'Traffic'),
        windowPicker(win, function (id) { location.hash = '#/usage' + buildQuery({ window: id }); }),
        chartBlock(usage.series || [], usage, win, 'The domain\'s requests')),
      h('section', { class: 'panel', 'aria-labelledby': 'busiest-title' },
        h('h2', { id: 'busiest-title' }, 'Busiest keys'),
        table('The keys with the most requests over ' + win.span, ['Key', 'Accepted', 'Refused', 'Refused most for'], rows,
          'No key made a request in this window.', 'busiest-keys'))
    ]);
  }, function (error) {
    if (!isCurrent(generation)) return;
    setView(generation, title, [h('h1', {}, title)]);
    fail(error);
  });
}

// Element helpers: the page's fixed elements (els), building elements with the DOM API (h,
// never innerHTML), ids, labels, selection, and the cells and tables the pages show.

// The page's fixed elements, found once when the console starts.
export const els = {};

export function findElements() {
  els.error = document.getElementById('error');
  els.notice = document.getElementById('notice');
  els.signIn = document.getElementById('sign-in');
  els.view = document.getElementById('view');
  els.nav = document.getElementById('nav');
  els.navUsers = els.nav.querySelector('[data-route=users]');
  els.navAudit = els.nav.querySelector('[data-route=audit]');
  els.account = document.getElementById('account');
  els.accountName = document.getElementById('account-name');
}

export function h(tag, props) {
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

export function append(parent, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    child.forEach(function (c) { append(parent, c); });
  } else if (child instanceof Node) {
    parent.appendChild(child);
  } else {
    parent.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
}

var uid = 0;
export function nextId(prefix) {
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

export function timeCell(ms, never) {
  if (ms === null || ms === undefined) return h('span', { class: 'muted' }, never || '—');
  return h('time', { datetime: new Date(ms).toISOString(), title: new Date(ms).toISOString() }, formatTime(ms));
}

export function tokenPrefix(token) {
  if (!token) return '';
  return token.length > 12 ? token.slice(0, 12) + '…' : token;
}

export function badge(value) {
  var v = String(value || '');
  return h('span', { class: 'badge badge-' + v.replace(/[^a-z]/g, '') }, v);
}

export function fieldLabel(input) {
  if (input.labels && input.labels.length) return input.labels[0].textContent.trim();
  return input.name || 'Field';
}

export function selectText(el) {
  if (!el) return;
  var range = document.createRange();
  range.selectNodeContents(el);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}

export function table(caption, headers, rows, emptyText, testid) {
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

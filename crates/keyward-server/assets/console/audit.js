// The Audit log page: the domain's audit records, newest first, filtered by application or
// user and paged.

import { api } from "./api.js";
import { h, nextId, table, timeCell } from "./dom.js";
import { showError } from "./messages.js";
import { buildQuery, denied, fail, loading, setView } from "./page.js";
import { has, isCurrent } from "./state.js";

var AUDIT_PAGE_SIZE = 25;

export function renderAudit(generation, query) {
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
    if (!isCurrent(generation)) return;
    setView(generation, title, [h('h1', {}, title)]);
    fail(error);
  });
}

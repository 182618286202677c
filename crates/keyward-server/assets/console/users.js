// The Users page: the domain's users, the New user form, enabling and disabling users, and
// the dialog that changes a user's permissions.

import { api } from "./api.js";
import { badge, h, nextId, table, timeCell } from "./dom.js";
import { clearError, notify, showError } from "./messages.js";
import { denied, fail, loading, setView } from "./page.js";
import { has, isCurrent, nextGeneration, rememberUserName, state } from "./state.js";
import { checkedPermissions, confirmDialog, openDialog, permissionFieldset } from "./widgets.js";

export function renderUsers(generation, keepFocus) {
  var title = 'Users';
  if (!has('users:manage')) return denied(generation, title, 'users:manage');
  if (!keepFocus) loading(generation, title);
  api('GET', '/console/api/admin/users').then(function (answer) {
    var users = answer.data || [];
    users.forEach(function (u) { rememberUserName(u.id, u.username); });
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
    if (!isCurrent(generation)) return;
    setView(generation, title, [h('h1', {}, title)]);
    fail(error);
  });
}

function rerenderUsers() {
  renderUsers(nextGeneration(), true);
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

// Controls the pages share: modal dialogs, the permission checkboxes, copy buttons.

import { describe, endsSession } from "./api.js";
import { fieldLabel, h, nextId, selectText } from "./dom.js";
import { notify } from "./messages.js";
import { fail } from "./page.js";
import { state } from "./state.js";

// Opens a modal dialog. options: title, body (nodes), confirmLabel, danger, testid,
// onConfirm(form) → promise of a result. The dialog stays open, showing the error, when
// onConfirm fails; it resolves with the result, or null when cancelled.
export function openDialog(options) {
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
          if (endsSession(error)) {
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

export function confirmDialog(title, text, confirmLabel, onConfirm, testid) {
  return openDialog({
    title: title,
    body: h('p', {}, text),
    confirmLabel: confirmLabel,
    danger: true,
    testid: testid,
    onConfirm: onConfirm
  });
}

// What keyward's own permissions allow; a permission a deployment declares for its gateway
// routes is shown with a generic line.
var PERMISSION_HELP = {
  '*': 'Every permission, including those declared later',
  'activities:read': 'Read activities',
  'activities:write': 'Create, change and delete activities',
  'keys:manage': 'Create, rename, regenerate, rotate and revoke API keys, and change their permissions',
  'keys:reveal': 'Reveal the secret of an existing API key',
  'users:manage': 'Create users, change their permissions, enable and disable them',
  'audit:read': 'Read the audit log',
  'keys:verify': 'Ask whether another application’s key is valid (POST /api/keys/verify)'
};

// Checkboxes for the permissions the signed-in user holds (a user cannot grant more).
export function permissionFieldset(legend, checked, namePrefix) {
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

export function checkedPermissions(form) {
  return Array.prototype.slice.call(form.querySelectorAll('input[name=permissions]:checked'))
    .map(function (input) { return input.value; });
}

export function copyButton(label, getText, testid, target) {
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

// Messages: the error (role="alert") and the notice (role="status") above the page.

import { els } from "./dom.js";

export function showError(message) {
  els.error.textContent = message || '';
}

export function clearError() {
  els.error.textContent = '';
}

var noticeTimer = null;
var noticeAt = 0;
export function notify(message) {
  els.notice.textContent = message;
  noticeAt = Date.now();
  if (noticeTimer) clearTimeout(noticeTimer);
  noticeTimer = setTimeout(function () { els.notice.textContent = ''; }, 6000);
}

// Clears the notice now (an earlier "saved" would contradict an error about to be shown).
export function clearNotice() {
  els.notice.textContent = '';
}

// A notice belongs to the action that just happened: an older one goes when the page changes.
export function clearOldNotice() {
  if (Date.now() - noticeAt > 1500) els.notice.textContent = '';
}

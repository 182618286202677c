// The JSON API: the fetch wrapper (the session cookie; the X-CSRF-Token header on changes),
// its errors (ApiError from the server, FormError for a value refused before asking), and
// their text for people.

var UNSAFE = ['POST', 'PUT', 'PATCH', 'DELETE'];
var SESSION_ENDED = [10, 13, 22];

export function ApiError(status, code, message, detail) {
  this.name = 'ApiError';
  this.status = status;
  this.code = code;
  this.message = message;
  this.detail = detail;
}
ApiError.prototype = Object.create(Error.prototype);
ApiError.prototype.constructor = ApiError;

// A form's value the console refuses before asking the server; input is the field to fix.
export function FormError(message, input) {
  this.name = 'FormError';
  this.message = message;
  this.input = input;
}
FormError.prototype = Object.create(Error.prototype);
FormError.prototype.constructor = FormError;

export function describe(error) {
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

export function api(method, path, body) {
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

// Whether the server answered that the session has ended: 401 with no credentials (10), an
// unknown or revoked token (13) or an expired one (22).
export function endsSession(error) {
  return error instanceof ApiError && error.status === 401 && SESSION_ENDED.indexOf(error.code) !== -1;
}

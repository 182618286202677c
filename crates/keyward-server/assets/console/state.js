// The console's one state object, and the functions that change it: who is signed in, the
// secret just shown, which render is current, and the user names seen so far. Other modules
// read `state`; they change it only through the functions here.

export const state = {
  session: null, // {username, permissions, grantable}
  fresh: null, // {id, secret, revealed}: a secret just shown by the server, kept only in memory
  generation: 0, // incremented on each render, so a slow answer never overwrites a newer page
  userNames: {} // user id → user name, to name the creators of keys
};

// Signed in: who, what they hold and what they may grant. The user names of an earlier
// session go.
export function startSession(session) {
  state.session = {
    username: session.username,
    permissions: session.permissions || [],
    grantable: session.grantable || []
  };
  state.userNames = {};
}

// Signed out, or the session ended: the secret on screen goes with it.
export function endSession() {
  state.session = null;
  state.fresh = null;
}

// A secret the server just showed for key `id`: kept in memory while its key's page is open.
export function keepSecret(id, secret, revealed) {
  state.fresh = { id: id, secret: secret, revealed: revealed };
}

// Drops the secret kept, if any.
export function forgetSecret() {
  state.fresh = null;
}

// Starts a render, and returns its generation: an answer for an older one is not shown.
export function nextGeneration() {
  state.generation += 1;
  return state.generation;
}

// Whether `generation` is still the current render.
export function isCurrent(generation) {
  return generation === state.generation;
}

// The name of user `id`, to name a key's creator.
export function rememberUserName(id, username) {
  state.userNames[id] = username;
}

// Whether the signed-in user holds `permission` (or `*`, every permission).
export function has(permission) {
  var held = state.session ? state.session.permissions : [];
  return held.indexOf('*') !== -1 || held.indexOf(permission) !== -1;
}

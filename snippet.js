/*
 * affilut checkout snippet: remembers which affiliate sent the visitor.
 *
 * Include it on every page of the shop (at least the landing and checkout pages):
 *
 *   <script src="https://YOUR-AFFILUT-HOST/snippet.js" data-attribution-days="60"></script>
 *
 * data-attribution-days is the program's attribution window (1..3650, default 60).
 * A landing URL carrying ?ref=AFFILIATE&aff_sess=CLICK (as affilut's /r/ links make) is
 * kept in sessionStorage ('aff_ref', 'aff_sess', with 'aff_expires') and in localStorage
 * ('affilut'), both until the window ends; the latest click wins. At checkout, pass
 * window.affilut.metadata() -- {affiliate_id, affiliate_session_id} or {} -- as the
 * payment's metadata. sessionStorage.getItem('aff_ref') and getItem('aff_sess') keep
 * working too, also in a new tab.
 * Plain ES5, no dependencies, no network requests; it never throws.
 */
(function () {
  'use strict';

  var LOCAL_KEY = 'affilut';  // localStorage: JSON {ref, sess, expires (ms since the epoch)}
  var REF_KEY = 'aff_ref', SESS_KEY = 'aff_sess', EXPIRES_KEY = 'aff_expires';  // sessionStorage
  var DEFAULT_DAYS = 60, MAX_DAYS = 3650, DAY_MS = 86400000;
  var VALID = /^[A-Za-z0-9_-]{1,200}$/;
  var memory = null;  // this page's click, for when storage would not keep it

  function now() {
    return typeof Date.now === 'function' ? Date.now() : new Date().getTime();
  }

  function valid(value) {
    return typeof value === 'string' && VALID.test(value) ? value : null;
  }

  // window.localStorage / window.sessionStorage; null when missing, disabled or blocked.
  function store(name) {
    try {
      var s = window[name];
      return s && typeof s.getItem === 'function' ? s : null;
    } catch (e) {
      return null;
    }
  }

  function get(s, key) {
    try {
      return s ? s.getItem(key) : null;
    } catch (e) {
      return null;
    }
  }

  function set(s, key, value) {
    try {
      if (!s) return;
      if (value === null) s.removeItem(key);
      else s.setItem(key, value);
    } catch (e) { /* full or blocked: best effort only */ }
  }

  function attributionDays() {
    try {
      var script = document.currentScript, scripts, i;
      if (!script) {  // old browsers: the script running now is the last snippet.js so far
        scripts = document.getElementsByTagName('script');
        for (i = scripts.length - 1; i >= 0 && !script; i--) {
          if (/snippet\.js(\?|#|$)/.test(scripts[i].src || '')) script = scripts[i];
        }
      }
      var raw = script && script.getAttribute('data-attribution-days');
      raw = raw === null || raw === undefined ? '' : String(raw).replace(/^\s+|\s+$/g, '');
      var days = /^[0-9]{1,4}$/.test(raw) ? parseInt(raw, 10) : NaN;
      return days >= 1 && days <= MAX_DAYS ? days : DEFAULT_DAYS;
    } catch (e) {
      return DEFAULT_DAYS;
    }
  }

  function decode(text) {
    try {
      return decodeURIComponent(text.replace(/\+/g, ' '));
    } catch (e) {
      return null;
    }
  }

  // The first value of a query parameter, or null.
  function param(search, name) {
    try {
      if (typeof URLSearchParams === 'function') return new URLSearchParams(search).get(name);
    } catch (e) { /* fall through to the hand-made parser */ }
    var pairs = String(search || '').replace(/^\?/, '').split('&'), i, eq;
    for (i = 0; i < pairs.length; i++) {
      eq = pairs[i].indexOf('=');
      if (decode(eq < 0 ? pairs[i] : pairs[i].slice(0, eq)) === name) {
        return eq < 0 ? '' : decode(pairs[i].slice(eq + 1));
      }
    }
    return null;
  }

  // The unexpired localStorage entry as {ref, sess, expires} or null; drops a stale or broken one.
  function readLocal(local) {
    var raw = get(local, LOCAL_KEY), entry;
    if (raw === null) return null;
    try {
      entry = JSON.parse(raw);
    } catch (e) {
      entry = null;
    }
    var ref = entry && valid(entry.ref);
    var expires = entry && typeof entry.expires === 'number' ? entry.expires : NaN;
    if (!ref || !(expires > now())) {
      set(local, LOCAL_KEY, null);
      return null;
    }
    return { ref: ref, sess: valid(entry.sess), expires: expires };
  }

  // sessionStorage's click as {ref, sess}, or null; one past its window (a tab kept or restored
  // for longer than that) is removed. A click without aff_expires (set by other code) has no end.
  function readSession(session) {
    var ref = valid(get(session, REF_KEY)), expires = get(session, EXPIRES_KEY);
    if (expires !== null && !(Number(expires) > now())) {
      set(session, REF_KEY, null);
      set(session, SESS_KEY, null);
      set(session, EXPIRES_KEY, null);
      return null;
    }
    return ref ? { ref: ref, sess: valid(get(session, SESS_KEY)) } : null;
  }

  function writeSession(session, click, expires) {
    set(session, REF_KEY, click.ref);
    set(session, SESS_KEY, click.sess);
    set(session, EXPIRES_KEY, String(expires));
  }

  function metadata() {
    try {
      var session = store('sessionStorage'), local = store('localStorage');
      var click = readSession(session) || readLocal(local);
      if (!click) click = memory;
      var out = {};
      if (click) {
        out.affiliate_id = click.ref;
        if (click.sess) out.affiliate_session_id = click.sess;
      }
      return out;
    } catch (e) {
      return {};
    }
  }

  function capture() {
    var session = store('sessionStorage'), local = store('localStorage'), search = '';
    try {
      search = window.location.search || '';
    } catch (e) { /* no location: nothing to capture */ }
    var ref = search ? valid(param(search, 'ref')) : null;
    if (ref) {
      // A new click replaces everything before it; a session id never outlives its ref.
      var click = { ref: ref, sess: valid(param(search, 'aff_sess')) };
      var expires = now() + attributionDays() * DAY_MS;
      writeSession(session, click, expires);
      var entry = { ref: ref, expires: expires };
      if (click.sess) entry.sess = click.sess;
      try {
        set(local, LOCAL_KEY, JSON.stringify(entry));
      } catch (e) { /* no JSON: sessionStorage alone */ }
      // Blocked or full storage: remember the click for this page at least.
      if (!readSession(session) && !readLocal(local)) memory = click;
      return;
    }
    // No (usable) click in the URL: a new tab gets the remembered click back into sessionStorage.
    var stored = readLocal(local), current = readSession(session);  // both drop an expired click
    if (stored && session && !current) writeSession(session, stored, stored.expires);
  }

  try {
    capture();
  } catch (e) { /* never break the page */ }

  try {
    var api = window.affilut;
    if (!api || typeof api !== 'object') api = window.affilut = {};
    api.metadata = metadata;
  } catch (e) { /* window.affilut not writable: nothing to expose */ }
})();

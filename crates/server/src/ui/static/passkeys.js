// Passkeys in the Developer app (WebAuthn through navigator.credentials).
// "Sign in with a passkey" on the sign-in page, "Add a passkey" on Security.
// Options come from Keygate in the WebAuthn JSON encoding (base64url); the
// credential goes back in it, inside an ordinary form post with its form
// token. Both forms stay hidden where the browser has no WebAuthn. No
// conditional mediation (autofill): the button is the one request, so there
// is never a second one pending.
(function () {
  'use strict';
  if (!window.PublicKeyCredential || !navigator.credentials) return;

  function bytes(s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    return Uint8Array.from(atob(s), function (c) { return c.charCodeAt(0); }).buffer;
  }
  function text(buf) {
    var b = new Uint8Array(buf), s = '';
    for (var i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function creationOptions(o) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(o);
    var p = JSON.parse(JSON.stringify(o));
    p.challenge = bytes(p.challenge);
    p.user.id = bytes(p.user.id);
    p.excludeCredentials = (p.excludeCredentials || []).map(function (c) { return Object.assign({}, c, {id: bytes(c.id)}); });
    return p;
  }
  function requestOptions(o) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(o);
    var p = JSON.parse(JSON.stringify(o));
    p.challenge = bytes(p.challenge);
    p.allowCredentials = (p.allowCredentials || []).map(function (c) { return Object.assign({}, c, {id: bytes(c.id)}); });
    return p;
  }
  function credentialJSON(c) {
    if (typeof c.toJSON === 'function') return c.toJSON();
    var r = c.response, j = {id: c.id, rawId: text(c.rawId), type: c.type,
      authenticatorAttachment: c.authenticatorAttachment || null,
      clientExtensionResults: c.getClientExtensionResults(), response: {clientDataJSON: text(r.clientDataJSON)}};
    if (r.attestationObject) {
      j.response.attestationObject = text(r.attestationObject);
      j.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      j.response.authenticatorData = text(r.authenticatorData);
      j.response.signature = text(r.signature);
      j.response.userHandle = r.userHandle ? text(r.userHandle) : null;
    }
    return j;
  }
  function show(el, msg) {
    if (!el) return;
    el.textContent = msg;
    el.hidden = !msg;
  }
  function refused(e) {
    if (e && e.name === 'NotAllowedError') return 'The passkey request was cancelled or timed out (' + e.message + ').';
    if (e && e.name === 'InvalidStateError') return 'This device already holds a passkey for your account.';
    return (e && e.message) || 'The passkey request did not work.';
  }

  function signIn(form) {
    var button = form.querySelector('#passkey-sign-in'), error = form.querySelector('#passkey-error');
    form.hidden = false;
    button.addEventListener('click', function () {
      button.disabled = true;
      show(error, '');
      fetch('/dev/v1/sessions/passkey/options', {method: 'POST', headers: {'content-type': 'application/json'},
        body: '{}', credentials: 'same-origin'})
        .then(function (r) { if (!r.ok) throw new Error('Passkey sign-in is not available now.'); return r.json(); })
        .then(function (o) {
          form.elements.challenge_id.value = o.challenge_id;
          return navigator.credentials.get({publicKey: requestOptions(o.publicKey)});
        })
        .then(function (c) {
          form.elements.credential.value = JSON.stringify(credentialJSON(c));
          form.submit();
        })
        .catch(function (e) { show(error, refused(e)); button.disabled = false; });
    });
  }

  function add(form) {
    var button = form.querySelector('#passkey-add'), error = form.querySelector('#passkey-add-error');
    var password = form.elements.password;
    form.hidden = false;
    form.addEventListener('submit', function (ev) {
      if (form.elements.credential.value) return; // the second, real submit
      ev.preventDefault();
      button.disabled = true;
      show(error, '');
      var body = new URLSearchParams();
      body.set('csrf', form.elements.csrf.value);
      body.set('password', password.value);
      fetch('/app/security/passkeys/options', {method: 'POST', body: body, credentials: 'same-origin'})
        .then(function (r) { return r.json().then(function (j) { return {ok: r.ok, j: j}; }); })
        .then(function (a) {
          if (a.j.csrf) form.elements.csrf.value = a.j.csrf;
          if (!a.ok) throw new Error(a.j.error || 'The passkey could not be added.');
          form.elements.challenge_id.value = a.j.challenge_id;
          return navigator.credentials.create({publicKey: creationOptions(a.j.publicKey)});
        })
        .then(function (c) {
          form.elements.credential.value = JSON.stringify(credentialJSON(c));
          password.value = '';
          password.required = false;
          form.submit();
        })
        .catch(function (e) { show(error, refused(e)); button.disabled = false; });
    });
  }

  function start() {
    var s = document.getElementById('passkey-sign-in-form');
    if (s) signIn(s);
    var a = document.getElementById('passkey-add-form');
    if (a) add(a);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();

-- Passkeys (WebAuthn discoverable credentials) and the challenges of their
-- ceremonies. The credential's public key and flags are kept in webauthn_rp's
-- own binary encoding (base64url), never parsed by Keygate itself.

create table passkeys (
    passkey_id text primary key,
    user_id text not null references users (user_id) on delete cascade,
    name text not null,
    -- base64url of the authenticator's credential id: how a sign-in finds it.
    credential_id text not null unique,
    -- base64url of the user handle the authenticator keeps (random, per user).
    user_handle text not null,
    -- webauthn_rp's StaticState (public key, extensions) and DynamicState
    -- (flags, signature counter), base64url.
    static_state text not null,
    dynamic_state text not null,
    -- The last signature counter seen; an assertion must raise it (when either is not 0).
    sign_count integer not null,
    created_at integer not null,
    last_used_at integer,
    updated_at integer not null
);
create index passkeys_user_id on passkeys (user_id);

-- A started registration (user_id set) or sign-in (user_id null): the
-- library's server state, used once (deleted when taken), 5 minutes.
create table passkey_challenges (
    challenge_hash text primary key,
    purpose text not null,
    user_id text references users (user_id) on delete cascade,
    server_state text not null,
    expires_at integer not null,
    created_at integer not null
);
create index passkey_challenges_expires_at on passkey_challenges (expires_at);

-- Two-factor sign-in (TOTP). The shared secret is sealed with a key derived
-- from the pepper (see keygate_core::totp), recovery codes and sign-in
-- challenges are kept only as keyed digests.

create table two_factor (
    user_id text primary key references users (user_id) on delete cascade,
    sealed_secret text not null,
    -- null while enrolment waits for its first code.
    enabled_at integer,
    -- The last time step a code was accepted for: a code works once.
    last_step integer not null,
    created_at integer not null,
    updated_at integer not null
);

create table recovery_codes (
    code_hash text primary key,
    user_id text not null references users (user_id) on delete cascade,
    used_at integer,
    created_at integer not null,
    updated_at integer not null
);
create index recovery_codes_user_id on recovery_codes (user_id);

-- Issued after a right password when a code is still needed: 5 minutes, used once.
create table two_factor_challenges (
    challenge_hash text primary key,
    user_id text not null references users (user_id) on delete cascade,
    attempts integer not null,
    expires_at integer not null,
    created_at integer not null,
    updated_at integer not null
);

alter table orgs add column require_two_factor integer not null default 0;

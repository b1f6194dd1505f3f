-- Two-factor sign-in (TOTP). The shared secret is sealed with a key derived
-- from the pepper (see keygate_core::totp), recovery codes and sign-in
-- challenges are kept only as keyed digests.

create table two_factor (
    user_id text primary key references users (user_id) on delete cascade,
    sealed_secret text not null,
    -- null while enrolment waits for its first code.
    enabled_at bigint,
    -- The last time step a code was accepted for: a code works once.
    last_step bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table recovery_codes (
    code_hash text primary key,
    user_id text not null references users (user_id) on delete cascade,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index recovery_codes_user_id on recovery_codes (user_id);

-- Issued after a right password when a code is still needed: 5 minutes, used once.
create table two_factor_challenges (
    challenge_hash text primary key,
    user_id text not null references users (user_id) on delete cascade,
    attempts bigint not null,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);

alter table orgs add column require_two_factor boolean not null default false;

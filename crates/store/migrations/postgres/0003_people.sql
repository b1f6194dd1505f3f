-- People: invitations (the only way into an organization), password resets,
-- and what the sessions list shows. Tokens of mailed links are stored only as
-- their SHA-256 (the mail's outbox row keeps a nonce, see links.rs).

create table invitations (
    invitation_id text primary key,
    org_id text not null references orgs (org_id),
    email text not null,
    role text not null check (role in ('admin', 'developer', 'analyst', 'viewer')),
    token_hash text not null unique,
    invited_by text,
    status text not null check (status in ('pending', 'accepted', 'withdrawn', 'expired')),
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
-- One pending invitation per email and organization (expired ones are marked
-- 'expired' before a new one is written).
create unique index invitations_one_pending on invitations (org_id, email) where status = 'pending';
create index invitations_email on invitations (email);

create table password_resets (
    token_hash text primary key,
    user_id text not null references users (user_id) on delete cascade,
    expires_at bigint not null,
    used_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index password_resets_user_id on password_resets (user_id);

-- Sessions get a public id (never the token or its hash), the time last seen
-- (written at most once a minute), the source IP and user agent. Sessions from
-- before this version have none of these: they end, and people sign in again.
delete from sessions;
alter table sessions add column public_id text;
alter table sessions add column last_seen_at bigint;
alter table sessions add column ip text;
alter table sessions add column user_agent text;
create unique index sessions_public_id on sessions (public_id);

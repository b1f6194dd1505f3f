-- Keygate's schema for PostgreSQL: the same tables as migrations/sqlite, same
-- version numbers. Times are Unix milliseconds. Secrets are never stored: API
-- keys as HMAC-SHA-256 with a pepper kept outside the database, passwords as
-- argon2id, session tokens as SHA-256.

create table orgs (
    org_id text primary key,
    name text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table accounts (
    account_id text primary key,
    org_id text not null references orgs (org_id),
    name text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index accounts_org_id on accounts (org_id);

create table users (
    user_id text primary key,
    email text not null unique,
    password_hash text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table memberships (
    org_id text not null references orgs (org_id),
    user_id text not null references users (user_id),
    role text not null check (role in ('owner', 'admin', 'developer', 'analyst', 'viewer')),
    created_at bigint not null,
    updated_at bigint not null,
    primary key (org_id, user_id)
);
create unique index memberships_one_owner on memberships (org_id) where role = 'owner';
create index memberships_user_id on memberships (user_id);

create table sessions (
    session_id text primary key,
    user_id text not null references users (user_id) on delete cascade,
    expires_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index sessions_user_id on sessions (user_id);

create table api_keys (
    client_id text primary key,
    org_id text not null references orgs (org_id),
    kind text not null check (kind in ('admin', 'scoped')),
    owner_id text,
    name text not null,
    secret_hash text not null,
    generation bigint not null,
    scope text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create unique index api_keys_one_admin_per_owner on api_keys (owner_id) where kind = 'admin';
create index api_keys_org_id on api_keys (org_id);

create table audit_events (
    audit_seq bigint generated always as identity primary key,
    audit_event_id text not null unique,
    org_id text,
    occurred_at bigint not null,
    actor_user_id text,
    actor_email text,
    client_id text,
    action text not null,
    source_ip text,
    user_agent text,
    details text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index audit_events_org_seq on audit_events (org_id, audit_seq);
create index audit_events_client_seq on audit_events (client_id, audit_seq);

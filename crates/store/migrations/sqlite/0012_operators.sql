-- The operator's back office: machine tokens (HMAC-SHA-256 with the pepper,
-- as API keys; never the token), and what an operator keeps on an
-- organization: its id in the operator's own systems, its plan, free
-- metadata and whether it is suspended (and why).

create table operator_tokens (
    name text primary key,
    token_hash text not null unique,
    created_at integer not null
);

alter table orgs add column external_id text;
alter table orgs add column plan_id text;
alter table orgs add column metadata text not null default '{}';
alter table orgs add column suspended_reason text;
alter table orgs add column suspended_at integer;
create unique index orgs_external_id on orgs (external_id);
create index orgs_plan_id on orgs (plan_id);

-- An operator's invitation (no inviter) may make a new organization's first
-- owner; members still invite to the other roles only. SQLite changes a check
-- by rebuilding the table.
create table invitations_new (
    invitation_id text primary key,
    org_id text not null references orgs (org_id),
    email text not null,
    role text not null check (role in ('admin', 'developer', 'analyst', 'viewer')
                              or (role = 'owner' and invited_by is null)),
    token_hash text not null unique,
    invited_by text,
    status text not null check (status in ('pending', 'accepted', 'withdrawn', 'expired')),
    expires_at integer not null,
    created_at integer not null,
    updated_at integer not null
);
insert into invitations_new select invitation_id, org_id, email, role, token_hash, invited_by,
    status, expires_at, created_at, updated_at from invitations;
drop table invitations;
alter table invitations_new rename to invitations;
create unique index invitations_one_pending on invitations (org_id, email) where status = 'pending';
create index invitations_email on invitations (email);

-- The operator's back office: machine tokens (HMAC-SHA-256 with the pepper,
-- as API keys; never the token), and what an operator keeps on an
-- organization: its id in the operator's own systems, its plan, free
-- metadata and whether it is suspended (and why).

create table operator_tokens (
    name text primary key,
    token_hash text not null unique,
    created_at bigint not null
);

alter table orgs add column external_id text;
alter table orgs add column plan_id text;
alter table orgs add column metadata text not null default '{}';
alter table orgs add column suspended_reason text;
alter table orgs add column suspended_at bigint;
create unique index orgs_external_id on orgs (external_id);
create index orgs_plan_id on orgs (plan_id);

-- An operator's invitation (no inviter) may make a new organization's first
-- owner; members still invite to the other roles only.
alter table invitations drop constraint invitations_role_check;
alter table invitations add constraint invitations_role_check
    check (role in ('admin', 'developer', 'analyst', 'viewer') or (role = 'owner' and invited_by is null));

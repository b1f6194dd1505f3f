-- Network allowlists of keys and the organizations' key policies.

-- A JSON array of canonical CIDRs (`["203.0.113.0/24","2001:db8::/32"]`);
-- null: the key may be used from anywhere.
alter table api_keys add column allowed_networks text;

-- One row per organization that has set a policy; no row: no rule.
create table key_policies (
    org_id text primary key references orgs (org_id) on delete cascade,
    -- null: no limit.
    max_lifetime_days integer,
    require_expiry integer not null default 0,
    require_allowed_networks integer not null default 0,
    created_at integer not null,
    updated_at integer not null
);

-- Single sign-on (see docs/sso.md): one OpenID Connect provider per
-- organization. The client secret is sealed with a key derived from the
-- pepper (never stored in the clear). Each email domain is claimed by at most
-- one organization: `sso_domains` holds the claims, its primary key is the rule.

create table sso_settings (
    org_id text primary key references orgs (org_id),
    issuer text not null,
    client_id text not null,
    sealed_secret text not null,
    domains text not null,
    enforce integer not null,
    default_role text not null check (default_role in ('admin', 'developer', 'analyst', 'viewer')),
    created_at integer not null,
    updated_at integer not null
);

create table sso_domains (
    domain text primary key,
    org_id text not null references sso_settings (org_id)
);
create index sso_domains_org on sso_domains (org_id);

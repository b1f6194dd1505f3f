-- Per-key rate limits and an organization default: at most
-- rate_limit_requests token checks per rate_limit_seconds. Both columns are
-- set together or both null (no limit of its own; a key then takes its
-- organization's default, if any).

alter table api_keys add column rate_limit_requests integer;
alter table api_keys add column rate_limit_seconds integer;
alter table orgs add column rate_limit_requests integer;
alter table orgs add column rate_limit_seconds integer;

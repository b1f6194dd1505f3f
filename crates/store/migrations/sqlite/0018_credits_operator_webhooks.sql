-- Credits per key (see docs/plans-and-quotas.md): `credits_remaining` is what
-- was left as of the refill period that starts at `credits_period_start`
-- (Unix ms; 0 without a refill), settled from the instances' in-memory counts
-- in batches; null: the key has no credits. `credits_set_at` names the last
-- create, duplicate or edit that set them (counts of an older setting are not
-- applied), and `credits_exhausted_mark` is the last setting or period whose
-- api_key.credits_exhausted was sent, claimed with a conditional update.
alter table api_keys add column credits_remaining integer;
alter table api_keys add column credits_refill_amount integer;
alter table api_keys add column credits_refill_period text;
alter table api_keys add column credits_period_start integer;
alter table api_keys add column credits_set_at integer;
alter table api_keys add column credits_exhausted_mark integer;

-- The operator's webhooks: events of every organization (org.*,
-- quota.threshold, api_key.exposed). The signing secret is HMAC(pepper,
-- webhook id + salt), as for organizations' webhooks. Their deliveries are
-- rows of the same outbox, with `operator_webhook_id` in place of
-- `webhook_id` and the organization id NO_ORG, so no organization lists them.
create table operator_webhooks (
    webhook_id text primary key,
    url text not null,
    -- JSON array of event names.
    events text not null,
    secret_salt text not null,
    created_by text not null,
    created_at integer not null,
    updated_at integer not null
);
alter table deliveries add column operator_webhook_id text
    references operator_webhooks (webhook_id) on delete cascade;
create index deliveries_operator_webhook on deliveries (operator_webhook_id);

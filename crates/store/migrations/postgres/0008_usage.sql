-- Usage of keys: when and from where each key was last used, and counts of
-- token checks per key per minute (kept 30 days) and per day (kept 13 months).
-- Written in batches by each instance's in-memory recorder, never per request;
-- counts from several instances add up (upsert with +).

create table key_activity (
    client_id text primary key,
    org_id text not null,
    -- Unix ms of the last login or token check (to the recorder's flush interval).
    last_used_at bigint,
    last_used_ip text,
    -- When `*.unused` was sent for the idle stretch that started at
    -- coalesce(last_used_at, the key's created_at); claimed with a conditional update.
    unused_notified_at bigint,
    created_at bigint not null,
    updated_at bigint not null
);
create index key_activity_org_id on key_activity (org_id);

create table usage_minutes (
    client_id text not null,
    org_id text not null,
    -- Unix ms of the minute's start.
    bucket_start bigint not null,
    allowed bigint not null,
    refused_scope bigint not null,
    refused_rate_limit bigint not null,
    refused_expired bigint not null,
    refused_revoked bigint not null,
    refused_network bigint not null,
    primary key (client_id, bucket_start)
);
create index usage_minutes_org_start on usage_minutes (org_id, bucket_start);

create table usage_days (
    client_id text not null,
    org_id text not null,
    -- Unix ms of the UTC day's start.
    bucket_start bigint not null,
    allowed bigint not null,
    refused_scope bigint not null,
    refused_rate_limit bigint not null,
    refused_expired bigint not null,
    refused_revoked bigint not null,
    refused_network bigint not null,
    primary key (client_id, bucket_start)
);
create index usage_days_org_start on usage_days (org_id, bucket_start);

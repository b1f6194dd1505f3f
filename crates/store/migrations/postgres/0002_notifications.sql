-- Notifications: webhook endpoints and the transactional outbox, as in
-- migrations/sqlite/0002_notifications.sql. A key change, its audit event, its
-- notification event and one delivery row per webhook and per mailbox are
-- written in one transaction; the dispatchers of every instance claim due rows
-- with `for update skip locked`, so each row goes to one of them.

create table webhooks (
    webhook_id text primary key,
    org_id text not null references orgs (org_id),
    url text not null,
    -- JSON array of event names.
    events text not null,
    enabled boolean not null,
    -- The signing secret is HMAC(pepper, webhook id + salt): the database alone
    -- does not reveal it.
    secret_salt text not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index webhooks_org_id on webhooks (org_id);

-- One row per key event: the JSON payload every channel sends.
create table notification_events (
    event_id text primary key,
    org_id text not null,
    name text not null,
    payload text not null,
    created_at bigint not null,
    updated_at bigint not null
);

create table deliveries (
    delivery_seq bigint generated always as identity primary key,
    delivery_id text not null unique,
    event_id text not null references notification_events (event_id),
    org_id text not null,
    channel text not null check (channel in ('webhook', 'email')),
    webhook_id text references webhooks (webhook_id) on delete cascade,
    recipient text,
    status text not null check (status in ('pending', 'delivered', 'failed')),
    attempts bigint not null,
    next_attempt_at bigint not null,
    -- Set while a dispatcher holds the row; an expired lease may be claimed again.
    lease_until bigint,
    give_up_at bigint not null,
    created_at bigint not null,
    updated_at bigint not null
);
create index deliveries_due on deliveries (status, next_attempt_at);
create index deliveries_org on deliveries (org_id, delivery_seq);
create index deliveries_webhook on deliveries (webhook_id, delivery_seq);

create table delivery_attempts (
    delivery_id text not null references deliveries (delivery_id) on delete cascade,
    attempt bigint not null,
    started_at bigint not null,
    ok boolean not null,
    status_code bigint,
    latency_ms bigint not null,
    error text,
    created_at bigint not null,
    updated_at bigint not null,
    primary key (delivery_id, attempt)
);

-- Audit streams (see docs/audit.md): an organization's hash chain sent on,
-- in seq order, to an HTTPS receiver (JSON lines) or a syslog collector over
-- TCP. A stream is a cursor, not a queue: `delivered_seq` is the newest seq
-- the receiver took; the outbox dispatcher leases a stream that lags
-- (`lease_until`), sends the events after it and moves it on only if it is
-- still where it was read, so a crash resends (at least once) and never skips.

create table audit_streams (
    stream_id text primary key,
    org_id text not null references orgs (org_id),
    url text not null,
    format text not null check (format in ('jsonl', 'syslog')),
    secret_salt text not null,
    delivered_seq integer not null default 0,
    attempts integer not null default 0,
    next_attempt_at integer not null,
    lease_until integer,
    last_error text,
    created_at integer not null,
    updated_at integer not null
);
create index audit_streams_org on audit_streams (org_id);

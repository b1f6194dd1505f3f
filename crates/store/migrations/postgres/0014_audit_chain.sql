-- The audit log's hash chain (see docs/audit.md): each organization's events
-- get `org_seq` (1, 2, 3, … per organization), `prev_hash` and `hash`, the
-- SHA-256 of the event's RFC 8785 form. One head row per organization holds
-- its newest seq and hash; a write takes the next seq from it in the same
-- transaction as the change (SQLite's one writer serializes them; PostgreSQL
-- locks the head row). Events from before this migration are chained by the
-- store right after it, in the order they were written (`audit_seq`).
-- Events of no organization stay outside every chain.

alter table audit_events add column org_seq bigint;
alter table audit_events add column prev_hash text;
alter table audit_events add column hash text;
create unique index audit_events_org_chain on audit_events (org_id, org_seq);
create index audit_events_unchained on audit_events (audit_seq)
    where hash is null and org_id is not null;

create table audit_chain_heads (
    org_id text primary key,
    seq bigint not null,
    hash text not null
);

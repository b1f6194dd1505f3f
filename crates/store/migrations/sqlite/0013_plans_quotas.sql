-- Plans the operator sells: quotas per UTC calendar day and month over all
-- of an organization's keys (null: none), and the rate limit for keys that
-- set none. Organizations name their plan in orgs.plan_id (0012). That column
-- gets no foreign key: SQLite could only add one by rebuilding orgs, which
-- other tables reference; the service refuses an unknown plan_id and
-- delete_plan refuses a plan in use in the same statement as the delete.
create table plans (
    plan_id text primary key,
    name text not null,
    quota_day integer,
    quota_month integer,
    rate_limit_requests integer,
    rate_limit_seconds integer,
    created_at integer not null,
    updated_at integer not null
);

-- Organizations that already name a plan (0012 took any plan_id) keep it: a
-- plan without quotas of that id.
insert into plans (plan_id, name, created_at, updated_at)
    select distinct plan_id, plan_id, 0, 0 from orgs where plan_id is not null;

-- Each quota.threshold event (80, 90, 100 % of a quota) is claimed here once
-- per organization, period and period start, in the transaction that writes
-- its audit event and outbox rows: the primary key makes a second claim (a
-- restart, another instance) write nothing.
create table quota_thresholds (
    org_id text not null references orgs (org_id),
    period text not null check (period in ('day', 'month')),
    period_start integer not null,
    percent integer not null,
    created_at integer not null,
    updated_at integer not null,
    primary key (org_id, period, period_start, percent)
);

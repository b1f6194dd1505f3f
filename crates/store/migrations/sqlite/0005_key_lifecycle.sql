-- Key lifecycle: expiry and rotation with a grace period.
--
-- expires_at: Unix ms after which the key no longer logs in and its tokens
-- are refused; null: never.
-- previous_secret_hash / previous_secret_expires_at: the secret that a
-- regenerate with a grace period replaced, and when it dies (at most two
-- secrets live). The background sweeper clears both once that time passed,
-- with a conditional update that also claims the one
-- *.previous_secret_expired event.
-- expiry_notice: the last expiry notice sent (0 none, 1 expiring within 7
-- days, 2 within 1 day, 3 expired); a conditional update claims each one, so
-- several instances send it once. Reset to 0 when expires_at changes.
alter table api_keys add column expires_at integer;
alter table api_keys add column previous_secret_hash text;
alter table api_keys add column previous_secret_expires_at integer;
alter table api_keys add column expiry_notice integer not null default 0;
create index api_keys_previous_secret on api_keys (previous_secret_expires_at)
    where previous_secret_expires_at is not null;
create index api_keys_expiry on api_keys (expires_at)
    where expires_at is not null and expiry_notice < 3;

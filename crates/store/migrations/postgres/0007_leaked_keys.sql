-- Leaked-key intake (secret scanning). What an organization does with a live
-- key reported leaked: 'revoke' deletes it, 'notify' flags it as exposed.
alter table orgs add column on_leak text not null default 'revoke'
    check (on_leak in ('revoke', 'notify'));
-- When the key's current secret was reported leaked (null: never, or
-- regenerated since). Only flagged keys have it: revoked ones are gone.
alter table api_keys add column exposed_at bigint;
-- Reports name a secret, not a client id: they are matched by its keyed digest.
create index api_keys_secret_hash on api_keys (secret_hash);

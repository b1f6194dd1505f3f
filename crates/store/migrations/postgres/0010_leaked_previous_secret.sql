-- A leaked-key report may name the secret that a regenerate with a grace
-- period replaced (still alive until previous_secret_expires_at): it is looked
-- up by its digest like the current one.
create index api_keys_previous_secret_hash on api_keys (previous_secret_hash)
    where previous_secret_hash is not null;

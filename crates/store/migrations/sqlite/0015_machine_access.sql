-- Machine access (OAuth 2.0, DPoP): a key with require_dpop set issues only
-- DPoP-bound tokens (RFC 9449); login and /oauth/token refuse it a token
-- without a proof.

alter table api_keys add column require_dpop integer not null default 0;

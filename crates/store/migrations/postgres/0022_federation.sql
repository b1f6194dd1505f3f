-- Workload identity federation (RFC 8693 token exchange): a scoped key's
-- rules, a JSON list of {issuer, audience, subject}; null when it has none.
-- Read only by the token exchange and the key's pages, never by the cache.

alter table api_keys add column federation text;

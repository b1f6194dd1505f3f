-- How each session was made: 'password' (the password only) or
-- 'password_and_code' (the password, then a TOTP or recovery code). An
-- organization that requires two-factor asks this of the session, not whether
-- its user has two-factor on today.
alter table sessions add column factors text not null default 'password';

-- A session opened after its user turned two-factor on passed the code (every
-- sign-in of such a user asks for one), so it keeps its access.
update sessions set factors = 'password_and_code'
where exists (
    select 1 from two_factor t
    where t.user_id = sessions.user_id
      and t.enabled_at is not null
      and t.enabled_at <= sessions.created_at
);

-- 016_mint_no_refresh.sql: a location token stored without a refresh token.
--
-- An agency location's pair is minted from the company token (POST /oauth/locationToken). The
-- answer may hold an access token only (decisions.md, agency OAuth: "a location token without
-- refresh_token"); it is still saved here before it is used, with refresh_token NULL, which
-- means "mint a new one from the company token when it expires". A plain OAuth location or the
-- company itself still needs a refresh token: the engine refuses a NULL there at start-up.
--
-- DROP NOT NULL changes neither the owner nor the privileges: migration 006's revokes (no role
-- but the engine's may read the pairs) stay as they are.

ALTER TABLE ghlsync.oauth_tokens ALTER COLUMN refresh_token DROP NOT NULL;

// The tests' OpenID provider: node `oidc-provider` 9 (from npm, outside the
// repository) with one confidential client (client_secret_basic, PKCE S256
// required), its development login form (any password) and four people.
// argv: host redirect_uri client_id client_secret. Prints {"issuer"} once it
// listens on 127.0.0.1; the issuer names `host` (say localhost, so that the
// browser sees the provider as another site than Keygate on 127.0.0.1).
// GET /_kg/mode?set=nonce|exp makes the next ID token carry another nonce or
// be an hour past its exp (well signed); GET /_kg/stats counts ID tokens.
import crypto from 'node:crypto';
import http from 'node:http';
import * as jose from 'jose';
import Provider from 'oidc-provider';

const [host, redirectUri, clientId, clientSecret] = process.argv.slice(2);
const PEOPLE = {
  newdev: { email: 'newdev@example.test', email_verified: true },
  unverified: { email: 'unverified@example.test', email_verified: false },
  stray: { email: 'stray@elsewhere.test', email_verified: true },
  pat: { email: 'pat@example.test', email_verified: true },
};
const key = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const KID = 'kg-test-1';
const stats = { id_tokens: 0, altered: 0 };
let mode = null;

async function alter(idToken, how) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  if (how === 'nonce') claims.nonce = crypto.randomBytes(16).toString('base64url');
  if (how === 'exp') Object.assign(claims, { iat: now - 7200, auth_time: now - 7200, exp: now - 3600 });
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: KID }).sign(key);
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://${host}:${server.address().port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId, client_secret: clientSecret, redirect_uris: [redirectUri],
      grant_types: ['authorization_code'], response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic',
    }],
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
    claims: { openid: ['sub'], email: ['email', 'email_verified'] },
    conformIdTokenClaims: false,
    jwks: { keys: [{ ...key.export({ format: 'jwk' }), kid: KID, alg: 'RS256', use: 'sig' }] },
    cookies: { keys: [crypto.randomBytes(24).toString('hex')] },
    async findAccount(ctx, id) {
      const k = Object.keys(PEOPLE).find((p) => p === id);
      return k && { accountId: k, claims: async () => ({ sub: k, ...PEOPLE[k] }) };
    },
    // A first-party client: consent is given, only the login form is shown.
    async loadExistingGrant(ctx) {
      const found = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (found) return ctx.oidc.provider.Grant.find(found);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email');
      grant.addOIDCClaims(['email', 'email_verified']);
      await grant.save();
      return grant;
    },
  });
  provider.use(async (ctx, next) => {
    if (ctx.path === '/_kg/mode') { mode = ctx.query.set || null; ctx.body = { mode }; return; }
    if (ctx.path === '/_kg/stats') { ctx.body = stats; return; }
    await next();
    if (ctx.path === '/token' && ctx.method === 'POST' && ctx.body && ctx.body.id_token) {
      stats.id_tokens += 1;
      if (mode) {
        ctx.body = { ...ctx.body, id_token: await alter(ctx.body.id_token, mode) };
        stats.altered += 1;
        mode = null;
      }
    }
  });
  server.on('request', provider.callback());
  process.stdout.write(JSON.stringify({ issuer }) + '\n');
});

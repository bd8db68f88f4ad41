// node-oidc-provider (the OpenID-certified reference provider) set up like the hub for the
// benchmark: memory adapter, RS256 ID tokens, opaque access tokens, refresh rotation, one
// confidential client (client_secret_basic) whose consent is granted on first use, like the
// hub's first-party clients. Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI
//
// /bench/codes?n= and /bench/tokens?n= mint codes and token pairs through the provider's own
// models, as bench/run.py mints the hub's through its store code, so only the measured endpoint
// is loaded. Not for anything but the benchmark.
import { randomBytes } from 'node:crypto';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';
import LRU from 'oidc-provider/lib/helpers/lru.js';

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const scope = 'openid profile email';

const { privateKey } = await generateKeyPair('RS256', { modulusLength: 2048, extractable: true });
const signing = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'bench' };

// The provider's own memory adapter, with room for every token of a run: the quick-start store
// keeps 1,000 entries and would drop the benchmark's tokens before they are used.
const store = new LRU({ maxSize: 10_000_000 });

const provider = new Provider(issuer, {
  adapter: (model) => new MemoryAdapter(model, store),
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [signing] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  features: {
    devInteractions: { enabled: true },
    // Any authenticated client may introspect, as at the hub (its own tokens).
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true },
  },
  claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
  findAccount: async (ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: 'Bench', email: 'bench@example.vn', email_verified: true }),
  }),
  // Consent granted on first use, as for the hub's first-party clients.
  loadExistingGrant: async (ctx) => {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope(scope);
    await grant.save();
    return grant;
  },
  // A refresh token with every code exchange and a new one at every refresh, like the hub.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  rotateRefreshToken: true,
  pkce: { required: () => false },
  ttl: {
    AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, RefreshToken: 86400,
    Grant: 86400, Session: 86400, Interaction: 3600,
  },
});

async function grantFor(client) {
  const grant = new provider.Grant({ accountId: 'bench', clientId: client.clientId });
  grant.addOIDCScope(scope);
  return grant.save();
}

provider.use(async (ctx, next) => {
  if (ctx.path !== '/bench/codes' && ctx.path !== '/bench/tokens') return next();
  const n = Math.min(Number(ctx.query.n) || 1, 100000);
  const client = await provider.Client.find(clientId);
  const grantId = await grantFor(client);
  const now = Math.floor(Date.now() / 1000);
  const made = [];
  for (let i = 0; i < n; i += 1) {
    if (ctx.path === '/bench/codes') {
      const code = new provider.AuthorizationCode({
        accountId: 'bench', client, grantId, scope, redirectUri, acr: 'LoA1', amr: ['pwd'],
        authTime: now, nonce: randomBytes(8).toString('hex'),
      });
      made.push(await code.save());
    } else {
      const access = new provider.AccessToken({
        accountId: 'bench', client, grantId, scope, gty: 'authorization_code',
      });
      const refresh = new provider.RefreshToken({
        accountId: 'bench', client, grantId, scope, gty: 'authorization_code', acr: 'LoA1',
        amr: ['pwd'], authTime: now, iiat: now, rotations: 0,
      });
      made.push([await access.save(), await refresh.save()]);
    }
  }
  ctx.body = made;
});

provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`node-oidc-provider on ${issuer}`);
});

// panva oidc-provider on 127.0.0.1 for revprober's integration tests.
//
//   node provider.mjs [PORT]        (or PORT=...; 0 or nothing: a free port)
//
// Prints "READY <issuer>" on stdout once it listens. Environment:
// CLIENT_SECRET (canary-app), ADMIN_CLIENT_SECRET (revprober-admin),
// ADMIN_SECRET (the X-Admin-Secret header of POST /admin/revoke-user).
// Storage is a plain Map: never an LRU, which drops entries and makes live
// tokens look revoked.
import { createServer } from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] ?? process.env.PORT ?? 0);
const env = (name, def) => process.env[name] || def;

const store = new Map();
class MapAdapter {
  constructor(model) { this.model = model; }
  key(id) { return `${this.model}:${id}`; }
  async upsert(id, payload, expiresIn) {
    const exp = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    store.set(this.key(id), { payload, exp });
    if (this.model === 'Session') store.set(`sessionUid:${payload.uid}`, id);
    if (payload.grantId) {
      const k = `members:${payload.grantId}`;
      store.set(k, [...(store.get(k) ?? []), this.key(id)]);
    }
  }
  async find(id) {
    const e = store.get(this.key(id));
    return e && e.exp > Date.now() ? e.payload : undefined;
  }
  async findByUid(uid) { return this.find(store.get(`sessionUid:${uid}`)); }
  async findByUserCode() { return undefined; }
  async consume(id) { const e = store.get(this.key(id)); if (e) e.payload.consumed = Math.floor(Date.now() / 1000); }
  async destroy(id) { store.delete(this.key(id)); }
  async revokeByGrantId(grantId) {
    for (const k of store.get(`members:${grantId}`) ?? []) store.delete(k);
    store.delete(`members:${grantId}`);
  }
}

const server = createServer();
await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  adapter: MapAdapter,
  clients: [{
    client_id: 'canary-app',
    client_secret: env('CLIENT_SECRET', 'canary-secret'),
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    redirect_uris: ['http://127.0.0.1/callback'],
    post_logout_redirect_uris: ['http://127.0.0.1/logged-out'],
  }, {
    // The prober's own client: it introspects, it never logs anyone in.
    client_id: 'revprober-admin',
    client_secret: env('ADMIN_CLIENT_SECRET', 'admin-secret'),
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: [],
    response_types: [],
    redirect_uris: [],
  }],
  scopes: ['openid', 'offline_access', 'profile', 'email'],
  claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  findAccount: (ctx, id) => ({
    accountId: id,
    claims: () => ({ sub: id, name: id, email: `${id}@example.com` }),
  }),
  issueRefreshToken: (ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
});

// "Revoke everything of user X": grants and sessions indexed by account id.
const grantsOf = new Map(); // accountId → Set(grantId)
const sessionsOf = new Map(); // accountId → Set(sessionId)
const index = (m, account, id) => { if (account) m.set(account, (m.get(account) ?? new Set()).add(id)); };
provider.on('grant.saved', (g) => index(grantsOf, g.accountId, g.jti));
provider.on('session.saved', (s) => index(sessionsOf, s.accountId, s.jti));

async function revokeUser(user) {
  const grants = [...(grantsOf.get(user) ?? [])];
  const sessions = [...(sessionsOf.get(user) ?? [])];
  for (const g of grants) {
    await Promise.all([provider.AccessToken, provider.RefreshToken, provider.AuthorizationCode]
      .map((model) => model.revokeByGrantId(g)));
    await provider.Grant.adapter.destroy(g);
  }
  for (const s of sessions) {
    const payload = await provider.Session.adapter.find(s);
    if (payload?.uid) store.delete(`sessionUid:${payload.uid}`);
    await provider.Session.adapter.destroy(s);
  }
  grantsOf.delete(user);
  sessionsOf.delete(user);
  return { grants: grants.length, sessions: sessions.length };
}

const oidc = provider.callback();
server.on('request', (req, res) => {
  if (!req.url.startsWith('/admin/')) return oidc(req, res);
  const reply = (status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  if (req.headers['x-admin-secret'] !== env('ADMIN_SECRET', 'admin-route-secret')) return reply(401, { error: 'unauthorized' });
  if (req.method !== 'POST' || req.url !== '/admin/revoke-user') return reply(404, { error: 'not_found' });
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', async () => {
    let user;
    try { ({ user } = JSON.parse(body)); } catch { /* fall through */ }
    if (typeof user !== 'string' || user === '') return reply(400, { error: 'invalid_request', error_description: 'body must be {"user":"<account id>"}' });
    try { reply(200, { user, revoked: await revokeUser(user) }); } catch (e) { reply(500, { error: 'server_error', error_description: String(e) }); }
  });
});

for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
console.log(`READY ${issuer}`);

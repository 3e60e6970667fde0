// Starts one real OAuth 2.0 server on 127.0.0.1 for the conformance tests, with a tiny
// protected resource beside it that checks bearer tokens against that server's JWKS.
// usage: node launch.mjs oidc_provider|oauth2_mock|node_oauth2_server
// Prints one JSON line when ready: the URLs and the registered clients. Exits with its parent.
// The clients are conformance/clients.json's; the test PKI is the folder in env
// CONFORMANCE_PKI (pki.py: made by conftest).
import { createServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import { createRemoteJWKSet, exportJWK, generateKeyPair, jwtVerify } from 'jose';

const { clients: CLIENTS, scopes: SCOPES, api: API } = JSON.parse(
  readFileSync(new URL('./clients.json', import.meta.url), 'utf8'));
const PKI = process.env.CONFORMANCE_PKI;
const pki = (name) => readFileSync(`${PKI}/${name}`);

function version(pkg) {
  const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(url, 'utf8')).version;
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

function send(res, status, obj, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(obj));
}

// GET <api>/whoami: 200 with the verified claims, or 401 with WWW-Authenticate (RFC 6750).
function resourceHandler(jwksUrl, issuer, audience) {
  const jwks = createRemoteJWKSet(new URL(jwksUrl));
  return async (req, res) => {
    const m = /^Bearer ([^ ]+)$/.exec(req.headers.authorization || '');
    if (!m) return send(res, 401, { error: 'invalid_request' }, { 'www-authenticate': 'Bearer' });
    try {
      const { payload } = await jwtVerify(m[1], jwks, { issuer, audience });
      return send(res, 200, { ok: true, claims: payload });
    } catch (e) {
      return send(res, 401, { error: 'invalid_token', error_description: e.code || e.message },
        { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
  };
}

// GET <api>/whoami for opaque tokens: asks the server's introspection endpoint (RFC 7662).
function introspectingHandler(introspectionUrl, id, secret) {
  const auth = `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  return async (req, res) => {
    const m = /^Bearer ([^ ]+)$/.exec(req.headers.authorization || '');
    if (!m) return send(res, 401, { error: 'invalid_request' }, { 'www-authenticate': 'Bearer' });
    const r = await fetch(introspectionUrl, { method: 'POST', body: new URLSearchParams({ token: m[1] }),
      headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' } });
    const answer = await r.json();
    if (r.status !== 200 || !answer.active) {
      return send(res, 401, { error: 'invalid_token' }, { 'www-authenticate': 'Bearer error="invalid_token"' });
    }
    return send(res, 200, { ok: true, claims: answer });
  };
}

// A client of clients.json as oidc-provider registers it (its client metadata, RFC 7591).
function oidcClient(c) {
  const client = { client_id: c.id, grant_types: ['client_credentials'], response_types: [],
    redirect_uris: [], scope: SCOPES.join(' '), token_endpoint_auth_method: c.auth };
  if (c.secret !== null) client.client_secret = c.secret;
  if (c.tls_client_auth_san_dns) client.tls_client_auth_san_dns = c.tls_client_auth_san_dns;
  if (c.auth === 'self_signed_tls_client_auth') {
    client.jwks = { keys: [JSON.parse(pki('selfsigned.jwk.json'))] };  // matched by x5t#S256
  }
  return client;
}

async function oidcProvider() {
  const { default: Provider, errors } = await import('oidc-provider');
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid: 'conf', alg: 'RS256', use: 'sig' };
  const server = createServer();
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  const resourceServer = { client_id: 'conf-api', client_secret: 'api-s3cret', grant_types: [],
    response_types: [], redirect_uris: [], token_endpoint_auth_method: 'client_secret_basic' };
  const provider = new Provider(issuer, {
    clients: [resourceServer, ...CLIENTS.map(oidcClient)],
    jwks: { keys: [jwk] },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'client_secret_jwt',
      'tls_client_auth', 'self_signed_tls_client_auth'],
    scopes: [...SCOPES, 'admin'],  // admin exists but no client may have it
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // RFC 8705 on the HTTPS listener: the socket's certificate, verified against the test CA
      mTLS: {
        enabled: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        getCertificate: (ctx) => ctx.socket.getPeerX509Certificate?.(),
        certificateAuthorized: (ctx) => ctx.socket.authorized === true,
        certificateSubjectMatches: (ctx, property, expected) => property === 'tls_client_auth_san_dns'
          && (ctx.socket.getPeerX509Certificate()?.subjectAltName || '').split(', ').includes(`DNS:${expected}`),
      },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // a JWT access token for our API; without a resource the token is opaque
        getResourceServerInfo(ctx, resource) {
          if (resource !== API) throw new errors.InvalidTarget();
          return { scope: SCOPES.join(' '), audience: API, accessTokenTTL: 300,
            accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
  });
  const api = resourceHandler(`${issuer}/jwks`, issuer, API);
  const opaqueApi = introspectingHandler(`${issuer}/token/introspection`, resourceServer.client_id,
    resourceServer.client_secret);
  const koa = provider.callback();
  const route = (req, res) => {
    if (req.url.startsWith('/api/')) return api(req, res);
    if (req.url.startsWith('/opaque-api/')) return opaqueApi(req, res);
    return koa(req, res);
  };
  server.on('request', route);
  // the same provider over HTTPS (test CA), asking for a client certificate; a client assertion's
  // aud may be this listener's own token URL (the provider takes the request's origin)
  const tlsServer = createHttpsServer({ key: pki('server.key'), cert: pki('server.pem'),
    ca: pki('ca.pem'), requestCert: true, rejectUnauthorized: false }, route);
  const tlsPort = await listen(tlsServer);
  return { server: 'oidc-provider', version: version('oidc-provider'), issuer,
    token_url: `${issuer}/token`, api_url: `${issuer}/api/whoami`,
    tls_token_url: `https://localhost:${tlsPort}/token`,
    opaque_api_url: `${issuer}/opaque-api/whoami`, resource: API };
}

async function oauth2Mock() {
  const { OAuth2Server } = await import('oauth2-mock-server');
  const { default: basicAuth } = await import('basic-auth');
  const server = new OAuth2Server();
  await server.issuer.keys.generate('RS256');
  await server.start(0, '127.0.0.1');
  // it names itself http://localhost:<port>; we listen on 127.0.0.1 only, so say that
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  const issuer = server.issuer.url;
  // oauth2-mock-server issues a token to anyone: this hook is our glue that refuses unknown
  // clients and scopes. It reads Basic credentials with `basic-auth`, the package the mock
  // itself uses, which does not form-urldecode them.
  server.service.on('beforeResponse', (response, req) => {
    const basic = basicAuth(req);
    const body = req.body || {};
    const id = basic ? basic.name : body.client_id;
    const secret = basic ? basic.pass : body.client_secret;
    const client = CLIENTS.find((c) => c.id === id);
    if (!client || client.secret !== secret) {
      response.statusCode = 401;
      response.body = { error: 'invalid_client', error_description: 'client authentication failed' };
      return;
    }
    const unknown = (body.scope || '').split(' ').filter((s) => s && !SCOPES.includes(s));
    if (unknown.length) {
      response.statusCode = 400;
      response.body = { error: 'invalid_scope', error_description: `unknown scope ${unknown[0]}` };
    }
  });
  const apiServer = createServer(resourceHandler(`${issuer}/jwks`, issuer, API));
  const apiPort = await listen(apiServer);
  return { server: 'oauth2-mock-server', version: version('oauth2-mock-server'), issuer,
    token_url: `${issuer}/token`, api_url: `http://127.0.0.1:${apiPort}/api/whoami`,
    resource: API };
}

// @node-oauth/oauth2-server: the library's token handler and client-credentials grant, with an
// in-memory model (our glue: the model compares secrets and scopes, as its docs show) and a
// minimal RFC 7009 revocation route of ours, so a revoked token can make the resource say 401.
async function nodeOauth2Server() {
  const { default: OAuth2Server } = await import('@node-oauth/oauth2-server');
  const { Request, Response } = OAuth2Server;
  const tokens = new Map();  // access token -> token as saved
  const secretClients = CLIENTS.filter((c) => c.secret !== null
    && ['client_secret_basic', 'client_secret_post'].includes(c.auth));
  const oauth = new OAuth2Server({
    accessTokenLifetime: 3600,
    model: {
      getClient: async (id, secret) => {
        const c = secretClients.find((x) => x.id === id && x.secret === secret);
        return c ? { id: c.id, grants: ['client_credentials'] } : null;
      },
      getUserFromClient: async (client) => ({ id: client.id }),
      // the documentation's example, and no scope asked is none granted
      validateScope: async (user, client, scope) => (scope === undefined ? [] : scope.every(
        (x) => SCOPES.includes(x)) && scope),
      saveToken: async (token, client, user) => {
        const saved = { ...token, client, user };
        tokens.set(token.accessToken, saved);
        return saved;
      },
      getAccessToken: async (accessToken) => tokens.get(accessToken) || null,
    },
  });
  const body = (req) => new Promise((resolve) => {
    let data = '';
    req.on('data', (chunk) => { data += chunk; });
    req.on('end', () => resolve(Object.fromEntries(new URLSearchParams(data))));
  });
  const reply = (res, response) => {
    res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers });
    res.end(response.body === undefined ? '' : JSON.stringify(response.body));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const request = new Request({ method: req.method, headers: req.headers,
      query: Object.fromEntries(url.searchParams), body: req.method === 'POST' ? await body(req) : {} });
    const response = new Response(res);
    if (url.pathname === '/token') {
      await oauth.token(request, response).catch(() => {});  // the error is in response
      return reply(res, response);
    }
    if (url.pathname === '/revoke') {  // ours: the client's own token, Basic or body credentials
      const { default: basicAuth } = await import('basic-auth');
      const b = basicAuth(req);
      const client = await oauth.options.model.getClient(b ? b.name : request.body.client_id,
        b ? b.pass : request.body.client_secret);
      const t = tokens.get(request.body.token);
      if (!client) return send(res, 401, { error: 'invalid_client' });
      if (t && t.client.id === client.id) tokens.delete(request.body.token);
      return send(res, 200, {});
    }
    if (url.pathname === '/api/whoami') {
      try {
        const t = await oauth.authenticate(request, response);
        return send(res, 200, { ok: true, claims: { client_id: t.client.id, scope: t.scope } });
      } catch (e) {
        return send(res, e.code || 401, { error: e.name }, { 'www-authenticate': 'Bearer error="invalid_token"' });
      }
    }
    return send(res, 404, { error: 'not_found' });
  });
  const port = await listen(server);
  const origin = `http://127.0.0.1:${port}`;
  return { server: '@node-oauth/oauth2-server', version: version('@node-oauth/oauth2-server'),
    issuer: origin, token_url: `${origin}/token`, revoke_url: `${origin}/revoke`,
    api_url: `${origin}/api/whoami` };
}

if (Number(process.versions.node.split('.')[0]) < 20) {
  console.error(`Node.js 20.19 or later is needed (oidc-provider 9, jose 6); this is ${process.version}`);
  process.exit(1);
}
const starters = { oidc_provider: oidcProvider, oauth2_mock: oauth2Mock,
  node_oauth2_server: nodeOauth2Server };
const name = process.argv[2];
if (!starters[name]) {
  console.error(`usage: node launch.mjs ${Object.keys(starters).join('|')}`);
  process.exit(2);
}
// the parent holds our stdin: when it goes away, so do we (no orphan servers)
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
const info = await starters[name]();
info.clients = CLIENTS;
info.scopes = SCOPES;
info.pki = PKI ?? null;
process.stdout.write(`${JSON.stringify({ ready: name, ...info })}\n`);

// A real OpenID Provider (panva's certified oidc-provider) with a fixed configuration, for
// Warden's identity tests. Started by tests/oidc/conftest.py; configured by the environment:
//   PORT          where to listen (127.0.0.1)
//   ISSUER        default http://127.0.0.1:PORT (a second instance with another issuer but
//                 the same keys makes a validly signed token with the wrong iss)
//   KEY_DIR       folder of private keys, one KID.json each, created when missing
//   KEY_IDS       comma-separated key ids; the first signs, all are published (rotation:
//                 restart with a new id first and the old one after)
//   REDIRECT_URI  the dashboard client's redirect URI
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = process.env.ISSUER || `http://127.0.0.1:${port}`;
const keyDir = process.env.KEY_DIR;
const keyIds = (process.env.KEY_IDS || 'k1').split(',');

function key(kid) {
  const file = path.join(keyDir, `${kid}.json`);
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
    fs.writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
  }
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

// Fixed accounts: any password signs in (the provider's development login form).
const GROUPS = { alice: ['ml-admins'], bob: ['ml-developers'], carol: [] };

const API = 'https://warden.test';
const OTHER_API = 'https://other.test';

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'warden-dashboard',
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
      redirect_uris: [process.env.REDIRECT_URI || 'http://127.0.0.1:1/dashboard/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    {
      client_id: 'warden-cli',
      token_endpoint_auth_method: 'none',
      id_token_signed_response_alg: 'ES256',
      grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
      response_types: [],
      redirect_uris: [],
    },
    {
      client_id: 'warden-batch',
      client_secret: 'batch-secret',
      id_token_signed_response_alg: 'ES256',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
    {
      // its tokens live two seconds: the expired-token case
      client_id: 'warden-short',
      client_secret: 'short-secret',
      id_token_signed_response_alg: 'ES256',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    },
  ],
  jwks: { keys: keyIds.map(key) },
  cookies: { keys: ['warden-test-cookie-key'] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username', 'name'], groups: ['groups'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, name: id, groups: GROUPS[id] || [] };
      },
    };
  },
  // What RFC 9068 leaves to the provider: the user's name and groups in the access token.
  async extraTokenClaims(ctx, token) {
    if (!token.accountId) return undefined;
    return { preferred_username: token.accountId, groups: GROUPS[token.accountId] || [] };
  },
  features: {
    devInteractions: { enabled: true },
    clientCredentials: { enabled: true },
    deviceFlow: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => API,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource, client) => {
        if (resource !== API && resource !== OTHER_API) throw new Error(`unknown ${resource}`);
        return {
          scope: 'api',
          audience: resource,
          accessTokenTTL: client.clientId === 'warden-short' ? 2 : 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        };
      },
    },
  },
  ttl: { AccessToken: 600, DeviceCode: 600, Grant: 3600, Interaction: 600, Session: 3600 },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider ${issuer} listening on ${port} signing with ${keyIds[0]}`);
});

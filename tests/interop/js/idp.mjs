// A real OpenID provider for the login tests: oidc-provider (a certified implementation) with
// one public native client, "tessera": PKCE required, the device flow on, and its built-in
// login and consent pages. Any login name is accepted; the account's claims are derived
// from it: "alice" is alice@example.com in group "developers", a name with an "@" is that
// email, and a name starting "ops-" is in group "ops" instead.
//
// Usage: node idp.mjs PORT [--id-token-ttl SECONDS] [--device-code-ttl SECONDS]
// (prints "ready ISSUER" when listening)
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 0);
function flag(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}
const idTokenTtl = flag('--id-token-ttl', 3600);
const deviceCodeTtl = flag('--device-code-ttl', 600);
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signing = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-es256', use: 'sig', alg: 'ES256' };
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const rsaJwk = { ...rsa.export({ format: 'jwk' }), kid: 'idp-rs256', use: 'sig', alg: 'RS256' };

function claimsFor(login) {
  const email = login.includes('@') ? login : `${login}@example.com`;
  const groups = login.startsWith('ops-') ? ['ops'] : ['developers'];
  return { sub: login, email, email_verified: true, groups, name: login };
}

const configuration = {
  clients: [
    {
      client_id: 'tessera',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
      response_types: ['code'],
      redirect_uris: ['http://127.0.0.1/callback'],
      id_token_signed_response_alg: 'ES256',
    },
  ],
  pkce: { required: () => true },
  features: {
    deviceFlow: { enabled: true },
    devInteractions: { enabled: true },
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  conformIdTokenClaims: false,
  findAccount: async (_ctx, id) => ({
    accountId: id,
    claims: async () => claimsFor(id),
  }),
  jwks: { keys: [signing, rsaJwk] },
  ttl: { IdToken: idTokenTtl, DeviceCode: deviceCodeTtl, AccessToken: 600 },
  cookies: { keys: [crypto.randomBytes(16).toString('hex')] },
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;
const server = provider.listen(port, '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));

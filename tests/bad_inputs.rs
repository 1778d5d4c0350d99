//! The bad-input catalogue: one table of (what is wrong, command line, the whole expected first
//! stderr line after its `tessera: ` or `error: ` prefix, exit code) across every command. Every row runs the real binary with
//! `RUST_BACKTRACE=1`, no stdin and a clean environment, and must exit with its code, print
//! nothing on stdout (doctor prints its checklist), never panic, and say what is wrong on the first stderr line: `tessera: …`
//! (exit 1, exactly one such line), or clap's `error: …` for a malformed command line (exit 2).

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{arn_flags, fixture};

/// One row of the catalogue. In `expected`, `%` is the scratch directory and `$CERTS/` the
/// fixtures directory. In `line`, tokens are split on spaces and expanded:
/// `@name` is a file under certs/test, `%name` a file made by [`Scratch`], `$ID` a good
/// certificate and key, `$ARNS` the ARN flags, `$OFFLINE` an endpoint that refuses connections,
/// `$LISTEN` loopback listeners with a scratch token directory; `~` inside a token is a space.
struct Case {
    what: &'static str,
    line: &'static str,
    expected: &'static str,
    code: i32,
}

const fn case(what: &'static str, line: &'static str, expected: &'static str, code: i32) -> Case {
    Case {
        what,
        line,
        expected,
        code,
    }
}

const CASES: &[Case] = &[
    // credential-process: identity files
    case("missing certificate file", "credential-process --certificate /nonexistent/leaf.pem --private-key @leaf-rsa.key $ARNS $OFFLINE",
        "certificate file /nonexistent/leaf.pem does not exist; check the path given to --certificate", 1),
    case("missing key file", "credential-process --certificate @leaf-rsa.pem --private-key /nonexistent/key.pem $ARNS $OFFLINE",
        "private key file /nonexistent/key.pem does not exist; check the path given to --private-key", 1),
    case("directory instead of a file", "credential-process --certificate %dir --private-key @leaf-rsa.key $ARNS $OFFLINE",
        "certificate path %dir is a directory; --certificate takes a file", 1),
    case("empty certificate file", "credential-process --certificate %empty --private-key @leaf-rsa.key $ARNS $OFFLINE",
        "certificate file %empty is empty; --certificate needs a PEM or DER file", 1),
    case("garbage key file", "credential-process --certificate @leaf-rsa.pem --private-key %garbage $ARNS $OFFLINE",
        "private key file %garbage is not PEM, DER or PKCS#12 (no PEM header and not DER); --private-key needs a certificate or key file", 1),
    case("truncated PEM certificate", "credential-process --certificate %truncated.pem --private-key @leaf-rsa.key $ARNS $OFFLINE",
        "certificate file %truncated.pem has a malformed PEM block (1 BEGIN line(s) but 0 complete block(s)); the file may be truncated or corrupted", 1),
    case("truncated DER certificate", "credential-process --certificate %truncated.der --private-key @leaf-rsa.key $ARNS $OFFLINE",
        "certificate file %truncated.der is not PEM, DER or PKCS#12 (an ASN.1 structure that is not a certificate or key; truncated?); --certificate needs a certificate or key file", 1),
    case("certificate given as the key", "credential-process --certificate @leaf-rsa.pem --private-key @leaf-rsa.der $ARNS $OFFLINE",
        "private key file $CERTS/leaf-rsa.der contains no private key (it holds a certificate); pass the key file to --private-key", 1),
    case("key given as the certificate", "credential-process --certificate @leaf-rsa.key --private-key @leaf-rsa.key $ARNS $OFFLINE",
        "certificate file $CERTS/leaf-rsa.key contains no certificate (it holds a private key); pass the certificate file to --certificate", 1),
    case("key that does not match the certificate", "credential-process --certificate @leaf-rsa.pem --private-key @leaf-p256.key $ARNS $OFFLINE",
        "private key $CERTS/leaf-p256.key does not match certificate $CERTS/leaf-rsa.pem (the key is ECDSA P-256, the certificate holds RSA-2048); pass the key that belongs to this certificate", 1),
    case("expired certificate", "credential-process --certificate @leaf-expired.pem --private-key @leaf-expired.key $ARNS $OFFLINE",
        "certificate $CERTS/leaf-expired.pem expired on 2021-01-01T00:00:00Z (valid 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z); renew or reissue it", 1),
    case("not yet valid certificate", "credential-process --certificate @leaf-future.pem --private-key @leaf-future.key $ARNS $OFFLINE",
        "certificate $CERTS/leaf-future.pem is not valid until 2099-01-01T00:00:00Z (valid 2099-01-01T00:00:00Z to 2100-01-01T00:00:00Z); check the system clock or wait", 1),
    case("encrypted key without a passphrase", "credential-process --certificate @leaf-rsa.pem --private-key @leaf-rsa.aes256.key $ARNS $OFFLINE",
        "private key $CERTS/leaf-rsa.aes256.key is encrypted and no passphrase was given; pass --pkcs8-password or set TESSERA_KEY_PASSPHRASE", 1),
    case("encrypted key, wrong passphrase", "credential-process --certificate @leaf-rsa.pem --private-key @leaf-rsa.aes256.key --pkcs8-password wrong $ARNS $OFFLINE",
        "private key $CERTS/leaf-rsa.aes256.key could not be decrypted: wrong passphrase, or an encryption scheme other than PBES2 (PBKDF2/scrypt with AES-CBC)", 1),
    case("legacy OpenSSL-encrypted PEM key", "credential-process --certificate @leaf-rsa.pem --private-key @leaf-rsa.legacy-encrypted.key $ARNS $OFFLINE",
        "private key $CERTS/leaf-rsa.legacy-encrypted.key uses legacy OpenSSL PEM encryption; convert it with 'openssl pkcs8 -topk8 -v2 aes-256-cbc -in $CERTS/leaf-rsa.legacy-encrypted.key -out key.p8.pem'", 1),
    case("PKCS#12, wrong password", "credential-process --certificate @leaf-rsa.p12 --pkcs8-password wrong $ARNS $OFFLINE",
        "PKCS#12 file $CERTS/leaf-rsa.p12 could not be opened: wrong password (pass it with --pkcs8-password or TESSERA_KEY_PASSPHRASE)", 1),
    case("PKCS#12 needing a password, none given", "credential-process --certificate @leaf-rsa.p12 $ARNS $OFFLINE",
        "private key $CERTS/leaf-rsa.p12 is encrypted and no passphrase was given; pass --pkcs8-password or set TESSERA_KEY_PASSPHRASE", 1),
    case("encrypted key with a crafted KDF cost", "credential-process --certificate @leaf-p256.pem --private-key @leaf-p256.costly-pbkdf2.key --pkcs8-password test-passphrase $ARNS $OFFLINE",
        "private key $CERTS/leaf-p256.costly-pbkdf2.key asks for 10000001 PBKDF2 iterations (limit 10000000) to derive its key, over tessera's limit; re-encrypt it (openssl pkcs8 -topk8 -v2 aes-256-cbc)", 1),
    case("PKCS#12 with a crafted MAC cost", "credential-process --certificate %costly-mac.p12 --pkcs8-password test-passphrase $ARNS $OFFLINE",
        "PKCS#12 file %costly-mac.p12 asks for 10000001 MAC iterations (limit 10000000); re-export it (openssl pkcs12 -export -iter 2048 -maciter)", 1),
    case("Ed25519 key", "credential-process --certificate @leaf-ed25519.pem --private-key @leaf-ed25519.key $ARNS $OFFLINE",
        "private key $CERTS/leaf-ed25519.key: Ed25519 keys are not supported; use RSA (2048–8192 bits), ECDSA P-256/P-384 or ML-DSA-44/65/87", 1),
    case("P-521 key", "credential-process --certificate @leaf-p521.pem --private-key @leaf-p521.key $ARNS $OFFLINE",
        "private key $CERTS/leaf-p521.key: ECDSA P-521 keys are not supported; use RSA (2048–8192 bits), ECDSA P-256/P-384 or ML-DSA-44/65/87", 1),
    case("RSA-1024 key", "credential-process --certificate @leaf-rsa1024.pem --private-key @leaf-rsa1024.key $ARNS $OFFLINE",
        "private key $CERTS/leaf-rsa1024.key: RSA keys of 1024 bits are not supported; use 2048–8192 bits", 1),
    case("50 MB certificate", "credential-process --certificate %big.pem --private-key @leaf-p256.key $ARNS $OFFLINE",
        "certificate file %big.pem is 52428800 bytes, over the 1048576-byte limit; is it the right file?", 1),
    case("10,000-certificate chain", "credential-process $ID --intermediates %chain10k.pem $ARNS $OFFLINE",
        "intermediates file %chain10k.pem is 9320000 bytes, over the 1048576-byte limit; is it the right file?", 1),
    case("6-certificate chain", "credential-process $ID --intermediates %chain6.pem $ARNS $OFFLINE",
        "the certificate chain has 6 certificates; Roles Anywhere accepts at most 5 in X-Amz-X509-Chain", 1),
    case("keyring URI without a name", "credential-process --certificate @leaf-p256.pem --private-key keyring: $ARNS $OFFLINE",
        "keyring URI keyring:: service and name must be 1-64 letters, digits, '.', '_' or '-', not starting with '.'", 1),
    case("TPM handle that is not hex", "credential-process --certificate @leaf-p256.pem --private-key tpm:handle:zz $ARNS $OFFLINE",
        "TPM key tpm:handle:zz: the handle is not hexadecimal", 1),
    case("PKCS#11 module that does not exist", "credential-process --certificate pkcs11:token=x;object=y --pkcs11-lib /nonexistent.so $ARNS $OFFLINE",
        "cannot load PKCS#11 module /nonexistent.so: no such file", 1),
    // credential-process: request settings
    case("malformed trust anchor ARN", "credential-process $ID --trust-anchor-arn trust-anchor/ta --profile-arn $PROFILE --role-arn $ROLE $OFFLINE",
        "--trust-anchor-arn 'trust-anchor/ta' is not a valid trust anchor ARN (it needs six ':'-separated parts); expected arn:aws:rolesanywhere:REGION:ACCOUNT:trust-anchor/ID", 1),
    case("malformed profile ARN", "credential-process $ID --trust-anchor-arn $ANCHOR --profile-arn arn:aws:rolesanywhere:us-east-1:1234:profile/p --role-arn $ROLE $OFFLINE",
        "--profile-arn 'arn:aws:rolesanywhere:us-east-1:1234:profile/p' is not a valid profile ARN (account '1234' is not 12 digits); expected arn:aws:rolesanywhere:REGION:ACCOUNT:profile/ID", 1),
    case("user ARN as the role", "credential-process $ID --trust-anchor-arn $ANCHOR --profile-arn $PROFILE --role-arn arn:aws:iam::123456789012:user/bob $OFFLINE",
        "--role-arn 'arn:aws:iam::123456789012:user/bob' is not a valid IAM role ARN (resource must be 'role/' followed by an id); expected arn:aws:iam::ACCOUNT:role/NAME", 1),
    case("anchor and profile in different regions", "credential-process $ID --trust-anchor-arn $ANCHOR --profile-arn arn:aws:rolesanywhere:eu-west-1:123456789012:profile/p --role-arn $ROLE $OFFLINE",
        "trust anchor ARN region us-east-1 differs from profile ARN region eu-west-1; both must be in the same region", 1),
    case("--region contradicting the anchor", "credential-process $ID $ARNS $OFFLINE --region eu-west-1",
        "--region eu-west-1 differs from the trust anchor ARN's region us-east-1; drop --region or fix the ARN", 1),
    case("session too short", "credential-process $ID $ARNS $OFFLINE --session-duration 899",
        "--session-duration 899 is outside 900–43200 seconds", 1),
    case("session too long", "credential-process $ID $ARNS $OFFLINE --session-duration 43201",
        "--session-duration 43201 is outside 900–43200 seconds", 1),
    case("role session name with a space", "credential-process $ID $ARNS $OFFLINE --role-session-name bad~name!",
        "--role-session-name 'bad name!' is invalid: use 2–64 characters from letters, digits and +=,.@_-", 1),
    case("zero timeout", "credential-process $ID $ARNS --endpoint http://127.0.0.1:9 --timeout 0",
        "--timeout must be a positive number of seconds", 1),
    case("endpoint that is not a URL", "credential-process $ID $ARNS --endpoint ftp://example.com",
        "endpoint 'ftp://example.com' is not a valid URL (the scheme must be https or http); use e.g. https://rolesanywhere.us-east-1.amazonaws.com", 1),
    case("endpoint refusing connections", "credential-process $ID $ARNS $OFFLINE",
        "cannot reach Roles Anywhere endpoint http://127.0.0.1:9: client error (Connect): tcp connect error: Connection refused (os error 111); check --endpoint, the network and proxy settings", 1),
    case("CA bundle that is garbage", "credential-process $ID $ARNS --endpoint https://127.0.0.1:9 --ca-bundle %garbage",
        "CA bundle %garbage contains no PEM certificates; pass a PEM file to --ca-bundle", 1),
    case("unknown cache mode", "credential-process $ID $ARNS $OFFLINE --cache bogus",
        "invalid value 'bogus' for '--cache <CACHE>'", 2),
    case("profile without a config file", "credential-process --profile nosuch",
        "--profile nosuch: there is no config file at %cwd/.config/tessera/config.toml; create it or pass --config", 1),
    case("config file that is not TOML", "credential-process --config %bad.toml --profile a",
        "config %bad.toml is invalid: unclosed table, expected `]`", 1),
    case("config file with an unknown setting", "credential-process --config %unknown.toml --profile a",
        "config %unknown.toml is invalid: unknown field `bogus_key`, expected one of `certificate`, `private-key`, `intermediates`, `pkcs11-lib`, `trust-anchor-arn`, `profile-arn`, `role-arn`, `region`, `endpoint`, `session-duration`, `role-session-name`, `ca-bundle`, `no-verify-ssl`, `use-fips-endpoint`, `use-dualstack-endpoint`, `connect-timeout`, `timeout`, `https-proxy`, `no-proxy`, `login`, `source-profile`, `assume-role`", 1),
    case("profile not in the config file", "credential-process --config %good.toml --profile nosuch",
        "profile 'nosuch' is not in %good.toml (profiles there: a)", 1),
    case("missing ARNs", "credential-process $ID $OFFLINE",
        "no trust anchor ARN: pass --trust-anchor-arn (or set TESSERA_TRUST_ANCHOR_ARN)", 1),
    // serve
    case("serve: listen address that is not one", "serve $ID $ARNS $OFFLINE --listen nonsense",
        "invalid value 'nonsense' for '--listen <LISTEN>': invalid socket address syntax", 2),
    case("serve: non-loopback listener", "serve $ID $ARNS $OFFLINE --listen 8.8.8.8:80",
        "--listen/--admin-listen 8.8.8.8:80 is not a loopback address; pass --allow-remote to serve other hosts (ECS then needs its token from them, and IMDS stays off)", 1),
    case("serve: hop limit 0", "serve $ID $ARNS $OFFLINE --hop-limit 0",
        "invalid value '0' for '--hop-limit <HOP_LIMIT>': 0 is not in 1..=255", 2),
    case("serve: config that is not TOML", "serve --config %bad.toml --all-profiles",
        "config %bad.toml is invalid: unclosed table, expected `]`", 1),
    case("serve: missing config", "serve --config /nonexistent.toml --all-profiles",
        "cannot read config /nonexistent.toml: No such file or directory (os error 2)", 1),
    case("serve: missing --tokens-from directory", "serve $ID $ARNS $OFFLINE $LISTEN --tokens-from /nonexistent",
        "--tokens-from: cannot read the token of profile default from /nonexistent/default.token (No such file or directory (os error 2)); create it (e.g. openssl rand -hex 32)", 1),
    case("serve: token directory under a file", "serve $ID $ARNS $OFFLINE --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 --token-dir %afile/x",
        "cannot create directory %afile/x: Not a directory (os error 20)", 1),
    case("proxy: --region with --credentials env", "proxy --credentials env --upstream http://127.0.0.1:9 --service s3 --region us-east-1",
        "--region us-east-1 is the Roles Anywhere region, which --credentials env does not use; the signing region is --signing-region us-east-1", 1),
    case("serve: a profile name with ../", "serve --config %escaping.toml --all-profiles $LISTEN",
        "profile name '../escaped' in %escaping.toml is invalid: use 1-64 of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.'", 1),
    case("serve: a profile name with a quote and a line break", "serve --config %label.toml --all-profiles $LISTEN",
        "profile name 'a\"} 1 x' in %label.toml is invalid: use 1-64 of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.'", 1),
    case("--profile with a slash", "credential-process --profile ../x",
        "invalid value '../x' for '--profile <NAME>': use 1-64 of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.'", 2),
    case("serve: --imds profile not served", "serve $ID $ARNS $OFFLINE $LISTEN --imds=nosuch",
        "IMDS profile nosuch is not one of the served profiles (default)", 1),
    case("serve: --imds with --allow-remote", "serve $ID $ARNS $OFFLINE --listen 0.0.0.0:0 --admin-listen 127.0.0.1:0 --allow-remote --imds",
        "IMDS cannot authenticate its clients, so with --allow-remote every host that reaches 0.0.0.0:0 would get the credentials of profile default; serve ECS with tokens instead, or pass --insecure-remote-imds to accept that", 1),
    case("serve: --imds-v1 without --imds", "serve $ID $ARNS $OFFLINE $LISTEN --imds-v1",
        "--imds-v1 needs IMDS: pass --imds[=PROFILE] as well", 1),
    // proxy
    case("proxy: upstream that is not http(s)", "proxy $ID $ARNS $OFFLINE --listen 127.0.0.1:0 --upstream ftp://x",
        "proxy upstream 'ftp://x' is not an http:// or https:// URL with a host", 1),
    case("proxy: header without a colon", "proxy $ID $ARNS $OFFLINE --listen 127.0.0.1:0 --upstream https://example.com --add-header nocolon",
        "add-header 'nocolon' must be 'Name: value'", 1),
    case("proxy: env credentials not set", "proxy --credentials env --listen 127.0.0.1:0 --upstream https://s3.us-east-1.amazonaws.com",
        "--credentials env: AWS_ACCESS_KEY_ID is not set", 1),
    case("proxy: non-loopback listener", "proxy $ID $ARNS $OFFLINE --listen 0.0.0.0:0 --upstream https://example.com",
        "proxy listen address 0.0.0.0:0 is not loopback; serving other hosts needs --allow-remote and --require-token", 1),
    // exec
    case("exec: no command", "exec $ID $ARNS $OFFLINE",
        "the following required arguments were not provided:", 2),
    case("exec: command not found", "exec $ID $ARNS $OFFLINE -- /nonexistent/cmd",
        "cannot run /nonexistent/cmd: not found or not executable (looked in PATH): cannot find binary path", 1),
    // update
    case("update: credentials file is a directory", "update $ID $ARNS $OFFLINE --once --credentials-file %dir",
        "cannot read the credentials file %dir (--credentials-file): Is a directory (os error 21)", 1),
    case("update: credentials file not UTF-8", "update $ID $ARNS $OFFLINE --once --credentials-file %nonutf8",
        "cannot read the credentials file %nonutf8 (--credentials-file): stream did not contain valid UTF-8", 1),
    case("update: profile name with a bracket", "update $ID $ARNS $OFFLINE --once --aws-profile bad]",
        "--aws-profile \"bad]\" cannot be a section name in %cwd/.aws/credentials; use letters, digits and '-', '_' or '.'", 1),
    // anchor and quickstart
    case("anchor: missing config", "anchor --config /nonexistent.toml --ca-dir %anchor-ca",
        "cannot read anchor config /nonexistent.toml: No such file or directory (os error 2)", 1),
    case("anchor: config that is not TOML", "anchor --config %badanchor.toml --ca-dir %anchor-ca",
        "anchor config %badanchor.toml is invalid: unclosed array, expected `]`", 1),
    case("anchor: enrolment issuer that is not https", "anchor --config %anchor-enrol.toml --ca-dir %anchor-ca",
        "anchor config: enrolment: issuer 'ftp://idp.example' must be an https:// URL (http:// only on loopback)", 1),
    // doctor tags
    case("doctor tags without a certificate", "doctor tags",
        "doctor tags needs --certificate FILE (or --profile NAME with a certificate)", 1),
    case("doctor tags on a file that is not a certificate", "doctor tags --certificate %garbage",
        "%garbage is not an X.509 certificate (PEM or DER)", 1),
    // console
    case("console: a destination that is neither a console URL nor a service", "console $ID $ARNS $OFFLINE --destination https://evil.example/",
        "--destination 'https://evil.example/' is not a console URL of this partition (https://…console.aws.amazon.com/…) or a known service (e.g. s3, ec2, iam, lambda)", 1),
    case("console: a federation endpoint that is not https", "console $ID $ARNS $OFFLINE --federation-endpoint http://signin.example/federation",
        "--federation-endpoint 'http://signin.example/federation' must be an https:// URL (http:// only on loopback)", 1),
    case("console: a session duration AWS does not accept", "console $ID $ARNS $OFFLINE --duration 60",
        "invalid value '60' for '--duration <SECONDS>': 60 is not in 900..=43200", 2),
    case("console: expired credentials (the certificate behind them expired)", "console --certificate @leaf-expired.pem --private-key @leaf-expired.key $ARNS $OFFLINE",
        "certificate $CERTS/leaf-expired.pem expired on 2021-01-01T00:00:00Z (valid 2020-01-01T00:00:00Z to 2021-01-01T00:00:00Z); renew or reissue it", 1),
    // role chaining
    case("login: a chained profile has no certificate of its own", "login --profile admin --config %chained.toml --aws-config-file %aws-config",
        "profile 'admin' takes its credentials from 'a' (source-profile), so it has no certificate of its own; use --profile a", 1),
    case("chaining: a chained session shorter than AssumeRole allows", "credential-process --config %chained.toml --profile admin --certificate @leaf-p256.pem --private-key @leaf-p256.key $ARNS $OFFLINE",
        "[profiles.admin.assume-role]: duration 60 is under the 900 seconds AssumeRole allows", 1),
    // login and logout
    case("login: no issuer yet", "login --profile dev --config %login.toml --aws-config-file %aws-config",
        "--issuer is required for profile 'dev' (pass it once; login keeps it in the profile)", 1),
    case("login: issuer that is not https", "login --profile dev --config %login.toml --aws-config-file %aws-config --issuer ftp://idp.example --client-id c --enrol-url http://127.0.0.1:9",
        "issuer 'ftp://idp.example' must be an https:// URL (http:// only on loopback)", 1),
    case("login: enrolment URL that is not https", "login --profile dev --config %login.toml --aws-config-file %aws-config --issuer http://127.0.0.1:9 --client-id c --enrol-url http://ca.example",
        "--enrol-url 'http://ca.example' must be an https:// URL (http:// only on loopback)", 1),
    case("login: a profile name that cannot be a directory", "login --profile ../x --config %login.toml --aws-config-file %aws-config",
        "profile name '../x' must be letters, digits, '-', '_' or '.'", 1),
    case("login --status without a login", "login --status --profile dev --config %good.toml --aws-config-file %aws-config",
        "profile 'dev' has no login; run 'tessera login --profile dev'", 1),
    case("logout: a profile name that cannot be a directory", "logout --profile ../x --config %login.toml --aws-config-file %aws-config",
        "profile name '../x' must be letters, digits, '-', '_' or '.'", 1),
    case("anchor: config with a misspelt key", "anchor --config %anchor-unknown.toml --ca-dir %anchor-ca",
        "anchor config %anchor-unknown.toml is invalid: unknown field `trust_anchors`, expected one of `accountId`, `region`, `minDurationSeconds`, `trustAnchors`, `profiles`, `roles`, `enrolment`", 1),
    case("anchor: empty config", "anchor --config %empty --ca-dir %anchor-ca",
        "anchor config %empty is invalid: missing field `accountId`", 1),
    case("anchor: --tls-cert without --tls-key", "anchor --tls --tls-cert @server.pem",
        "the following required arguments were not provided:", 2),
    case("quickstart: CA directory is a file", "quickstart --ca-dir %afile --once",
        "cannot create directory %afile: File exists (os error 17)", 1),
    // doctor
    case("doctor: garbage certificate", "doctor --certificate %garbage --private-key @leaf-p256.key $ARNS --offline",
        "doctor found 1 problem(s); see the checklist above", 1),
    // ca
    case("ca: directory is a file", "ca --dir %afile init",
        "cannot create directory %afile: File exists (os error 17)", 1),
    case("ca: issue without a CA", "ca --dir %none issue --cn x",
        "no CA in %none: run 'tessera ca init' first", 1),
    case("ca: init over an existing CA", "ca --dir %ca init",
        "%ca/root.key already exists; pass --force to overwrite it", 1),
    case("ca: blank common name", "ca --dir %ca issue --cn ~",
        "--cn must not be empty; give the workload's name", 1),
    case("ca: zero days", "ca --dir %ca issue --cn x --days 0",
        "invalid value '0' for '--days <DAYS>': 0 is not in 1..=36525", 2),
    case("ca: malformed SAN", "ca --dir %ca issue --cn x --san not~a~san",
        "--san 'not a san' is invalid; use dns:NAME, uri:URI, email:ADDRESS or ip:ADDRESS", 1),
    case("ca: certificate as the public key", "ca --dir %ca issue --cn x --public-key @leaf-rsa.pem",
        "$CERTS/leaf-rsa.pem holds a 'CERTIFICATE' PEM block; --public-key takes a 'PUBLIC KEY' (SubjectPublicKeyInfo)", 1),
    case("ca: text file as the public key", "ca --dir %ca issue --cn x --public-key @gen.sh",
        "the public key cannot be certified (X.509 parsing error: Parsing Error: Der(UnexpectedTag { expected: Some(Tag(16)), actual: Tag(3) })); pass an RSA or ECDSA P-256/P-384 SubjectPublicKeyInfo (PEM 'PUBLIC KEY' or DER)", 1),
    case("ca: serial that is not a number", "ca --dir %ca revoke nothex",
        "serial 'nothex' is not a hex or decimal serial number", 1),
    case("ca: CRL without a CA", "ca --dir %none crl",
        "no CA in %none: run 'tessera ca init' first", 1),
    // key
    case("key import: garbage key", "key import --name x --private-key %garbage --certificate @leaf-p256.pem",
        "private key file %garbage is not PEM, DER or PKCS#12 (no PEM header and not DER); --private-key needs a certificate or key file", 1),
    case("key import: name with a slash", "key import --name bad/name --private-key @leaf-p256.key --certificate @leaf-p256.pem",
        "keyring URI keyring:tessera/bad/name: service and name must be 1-64 letters, digits, '.', '_' or '-', not starting with '.'", 1),
    case("key set-passphrase: missing file", "key set-passphrase --for /nonexistent.key",
        "--for /nonexistent.key: no such file; give the encrypted key file the passphrase opens", 1),
    // diagnostics and helpers
    case("sign-string: missing key", "sign-string --private-key /nonexistent.key",
        "private key file /nonexistent.key does not exist; check the path given to --private-key", 1),
    case("sign-string: garbage key", "sign-string --private-key %garbage",
        "private key file %garbage is not PEM, DER or PKCS#12 (no PEM header and not DER); --private-key needs a certificate or key file", 1),
    case("read-certificate-data: a key file", "read-certificate-data --certificate @leaf-rsa.key",
        "certificate file $CERTS/leaf-rsa.key contains no certificate (it holds a private key); pass the certificate file to --certificate", 1),
    case("read-certificate-data: empty file", "read-certificate-data --certificate %empty",
        "certificate file %empty is empty; --certificate needs a PEM or DER file", 1),
    case("health: not a URL", "health --url notaurl",
        "--url 'notaurl' is not an http:// or https:// URL with a host", 1),
    case("health: nothing listening", "health --url http://127.0.0.1:9/healthz",
        "http://127.0.0.1:9/healthz is not healthy: client error (Connect): tcp connect error: Connection refused (os error 111)", 1),
    case("completions: unknown shell", "completions nosuchshell",
        "invalid value 'nosuchshell' for '<SHELL>'", 2),
    case("man: directory is a file", "man --dir %afile",
        "cannot create %afile: File exists (os error 17)", 1),
    case("unknown command", "frobnicate",
        "unrecognized subcommand 'frobnicate'", 2),
];

/// Files the rows refer to as `%name`, made once in a temporary directory.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = dir.path();
        let write = |name: &str, bytes: &[u8]| fs::write(root.join(name), bytes).expect("write");
        let read = |name: &str| fs::read(fixture(name)).expect("fixture");
        write("empty", b"");
        write("garbage", b"this is not a certificate\x00\x01\x02");
        write("nonutf8", b"\xff\xfe not UTF-8\n");
        write("afile", b"a file where a directory should be\n");
        let pem = read("leaf-rsa.pem");
        write("truncated.pem", &pem[..pem.len() / 2]);
        let der = read("leaf-rsa.der");
        write("truncated.der", &der[..der.len() - 40]);
        let big = fs::File::create(root.join("big.pem")).expect("create");
        big.set_len(50 * 1024 * 1024).expect("sparse 50 MB file");
        let intermediate = String::from_utf8(read("intermediate.pem")).expect("PEM");
        write("chain10k.pem", intermediate.repeat(10_000).as_bytes());
        write("chain6.pem", intermediate.repeat(6).as_bytes());
        write("bad.toml", b"[profile\nx=");
        write("unknown.toml", b"[profiles.a]\nbogus_key = 1\n");
        write("good.toml", b"[profiles.a]\nregion = \"us-east-1\"\n");
        write(
            "chained.toml",
            b"[profiles.admin]\nsource-profile = \"a\"\nassume-role = { role-arn = \"arn:aws:iam::123456789012:role/admin\", duration = 60 }\n[profiles.a]\ncertificate = \"x.pem\"\n",
        );
        write(
            "escaping.toml",
            b"[profiles.\"../escaped\"]\nregion = \"us-east-1\"\n",
        );
        write(
            "label.toml",
            b"[profiles.\"a\\\"} 1\\nx\"]\nregion = \"us-east-1\"\n",
        );
        write("badanchor.toml", b"not = [valid\n");
        write("anchor-unknown.toml", b"[[trust_anchors]]\nname = \"x\"\n");
        write(
            "anchor-enrol.toml",
            b"accountId = \"123456789012\"\nregion = \"us-east-1\"\n[enrolment]\nissuer = \"ftp://idp.example\"\naudiences = [\"tessera\"]\n",
        );
        write(
            "costly-mac.p12",
            &with_mac_iterations(&read("leaf-rsa.p12"), 10_000_001),
        );
        fs::create_dir(root.join("dir")).expect("mkdir");
        let ca = root.join("ca").display().to_string();
        let init = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(["ca", "--dir", &ca, "init"])
            .output()
            .expect("ca init runs");
        assert!(init.status.success(), "ca init: {init:?}");
        Self { dir }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// The command line of a row, expanded.
    fn expand(&self, line: &str) -> Vec<String> {
        let (anchor, profile, role) = arns();
        let mut args = Vec::new();
        for token in line.split(' ') {
            match token {
                "$ID" => args.extend([
                    "--certificate".into(),
                    fixture_path("leaf-p256.pem"),
                    "--private-key".into(),
                    fixture_path("leaf-p256.key"),
                ]),
                "$ARNS" => args.extend(arn_flags()),
                "$ANCHOR" => args.push(anchor.clone()),
                "$PROFILE" => args.push(profile.clone()),
                "$ROLE" => args.push(role.clone()),
                "$OFFLINE" => args.extend(
                    ["--endpoint", "http://127.0.0.1:9", "--timeout", "5"].map(String::from),
                ),
                "$LISTEN" => args.extend([
                    "--listen".into(),
                    "127.0.0.1:0".into(),
                    "--admin-listen".into(),
                    "127.0.0.1:0".into(),
                    "--token-dir".into(),
                    self.path("tokens"),
                ]),
                _ => args.push(self.expand_token(token)),
            }
        }
        args
    }

    fn expand_token(&self, token: &str) -> String {
        let token = token.replace('~', " ");
        if let Some(name) = token.strip_prefix('@') {
            fixture_path(name)
        } else if let Some(name) = token.strip_prefix('%') {
            self.path(name)
        } else {
            token
        }
    }

    /// `expected` with `%name` references expanded, so messages can be matched by path.
    fn expand_expected(&self, expected: &str) -> String {
        let root = self.dir.path().display().to_string();
        let certs = fixture("x").parent().map(|p| p.display().to_string());
        expected
            .replace('%', &format!("{root}/"))
            .replace("$CERTS/", &format!("{}/", certs.unwrap_or_default()))
    }
}

/// A PKCS#12 file re-encoded to ask for `iterations` MAC iterations (the MAC itself is then
/// wrong, which does not matter: the cost must be refused before any MAC is computed).
fn with_mac_iterations(pfx: &[u8], iterations: i32) -> Vec<u8> {
    use pkcs8::der::{Decode, Encode};
    let mut pfx = pkcs12::pfx::Pfx::from_der(pfx).expect("a PKCS#12 fixture");
    pfx.mac_data.as_mut().expect("MAC data").iterations = iterations;
    pfx.to_der().expect("re-encode")
}

fn fixture_path(name: &str) -> String {
    fixture(name).display().to_string()
}

fn arns() -> (String, String, String) {
    let flags = arn_flags();
    (flags[1].clone(), flags[3].clone(), flags[5].clone())
}

/// Runs the binary with a deadline (a server that wrongly starts is killed, and fails its row).
// The deadline is the harness's own wall time, not product time (clippy.toml bans Instant::now in
// the crate).
#[allow(clippy::disallowed_methods)]
fn run(args: &[String], cwd: &Path) -> Result<std::process::Output, String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TESSERA_") || key.starts_with("AWS_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "1")
        .env("TESSERA_CACHE", "none")
        .env("HOME", cwd)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start tessera: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err("still running after 30 s (it should have refused the input)".into());
            }
        }
    }
    child.wait_with_output().map_err(|e| e.to_string())
}

/// Checks one row; `Err` says how it failed.
fn check(scratch: &Scratch, case: &Case, cwd: &Path) -> Result<(), String> {
    let out = run(&scratch.expand(case.line), cwd)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let expected = scratch.expand_expected(case.expected);
    let first = stderr.lines().next().unwrap_or_default();
    let mut problems = Vec::new();
    if out.status.code() != Some(case.code) {
        problems.push(format!(
            "exit code {:?}, want {}",
            out.status.code(),
            case.code
        ));
    }
    // doctor's checklist is its output, failures included; every other command prints nothing.
    if !out.stdout.is_empty() && !case.line.starts_with("doctor ") {
        problems.push(format!(
            "stdout not empty: {:?}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push("panicked".into());
    }
    let prefix = if case.code == 2 {
        "error: "
    } else {
        "tessera: "
    };
    // The whole line: what is wrong and what to do, not just a flag name.
    if first != format!("{prefix}{expected}") {
        problems.push(format!(
            "first stderr line {first:?} is not {prefix:?} + {expected:?}"
        ));
    }
    if case.code == 1
        && stderr
            .lines()
            .filter(|l| l.starts_with("tessera: "))
            .count()
            != 1
    {
        problems.push("more than one error line".into());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}\n    stderr: {stderr}",
            case.what,
            problems.join("; ")
        ))
    }
}

#[test]
fn every_bad_input_gets_one_clear_line_and_a_non_zero_exit() {
    let scratch = Scratch::new();
    let cwd = scratch.dir.path().join("cwd");
    fs::create_dir(&cwd).expect("mkdir");
    let workers = 4;
    let failures: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let (scratch, cwd) = (&scratch, &cwd);
                scope.spawn(move || {
                    CASES
                        .iter()
                        .skip(worker)
                        .step_by(workers)
                        .filter_map(|case| check(scratch, case, cwd).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
    // Nothing was created in the working directory (the anchor rows must fail before
    // creating a CA, for example).
    let left: Vec<PathBuf> = fs::read_dir(&cwd)
        .expect("read cwd")
        .map(|e| e.expect("entry").path())
        .collect();
    assert!(left.is_empty(), "bad inputs left files behind: {left:?}");
}

/// A full or closed stdout (`tessera … > /dev/full`, `… | head -c1`) is an error line and exit 1
/// for every command that prints, never a panic.
#[test]
fn a_full_stdout_is_an_error_not_a_panic() {
    let ca = tempfile::tempdir().expect("tempdir");
    let ca_dir = ca.path().join("ca").display().to_string();
    let cases: Vec<Vec<String>> = vec![
        vec!["version".into()],
        vec![
            "read-certificate-data".into(),
            "--certificate".into(),
            fixture_path("leaf-rsa.pem"),
        ],
        vec!["completions".into(), "bash".into()],
        vec!["ca".into(), "--dir".into(), ca_dir, "init".into()],
        vec![
            "sign-string".into(),
            "--private-key".into(),
            fixture_path("leaf-p256.key"),
        ],
    ];
    for args in cases {
        let full = fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(full)
            .output()
            .expect("tessera runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("tessera: cannot write") && stderr.contains("No space left"),
            "{args:?}: {stderr}"
        );
    }
}

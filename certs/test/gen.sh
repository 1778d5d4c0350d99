#!/usr/bin/env bash
# Generates the test PKI under certs/test/ with OpenSSL. The output is checked in so tests are
# deterministic; run this again only to change the fixtures (golden signatures will change).
# Test keys only: nothing here protects anything.
set -euo pipefail
cd "$(dirname "$0")"
rm -f ./*.pem ./*.key ./*.der ./*.p12 ./*.srl ./*.cnf ./*.txt ./*.old ./*.attr
rm -rf ca-db

DAYS=3650
PASS=test-passphrase

cat > ext.cnf <<'CNF'
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[leaf_ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[ca_section]
dir = ./ca-db
database = ./ca-db/index.txt
new_certs_dir = ./ca-db
serial = ./ca-db/serial
default_md = sha256
policy = policy_any
copy_extensions = none
[policy_any]
commonName = supplied
CNF

# Root and intermediate CAs.
openssl req -x509 -newkey rsa:2048 -nodes -keyout root.key -out root.pem -days $DAYS \
  -subj "/O=tessera tests/CN=tessera test root" -sha256 -extensions ca_ext -config <(cat /etc/ssl/openssl.cnf ext.cnf) -set_serial 1
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout intermediate.key \
  -subj "/O=tessera tests/CN=tessera test intermediate" -out intermediate.csr
openssl x509 -req -in intermediate.csr -CA root.pem -CAkey root.key -set_serial 2 -days $DAYS -sha256 \
  -extfile ext.cnf -extensions ca_ext -out intermediate.pem

leaf() { # name keyalg signer-cert signer-key serial
  local name=$1 keyspec=$2 ca=$3 cakey=$4 serial=$5
  openssl genpkey $keyspec -out "$name.key"
  openssl req -new -key "$name.key" -subj "/O=tessera tests/OU=workloads/CN=$name" -out "$name.csr"
  openssl x509 -req -in "$name.csr" -CA "$ca" -CAkey "$cakey" -set_serial "$serial" -days $DAYS -sha256 \
    -extfile ext.cnf -extensions leaf_ext -out "$name.pem"
  rm "$name.csr"
}

# Leaves under the intermediate (chain needed) and directly under the root.
leaf leaf-rsa "-algorithm RSA -pkeyopt rsa_keygen_bits:2048" intermediate.pem intermediate.key 4096
leaf leaf-p256 "-algorithm EC -pkeyopt ec_paramgen_curve:P-256" intermediate.pem intermediate.key 0x0123456789abcdef01
leaf leaf-p384 "-algorithm EC -pkeyopt ec_paramgen_curve:P-384" root.pem root.key 291
leaf leaf-rsa4096 "-algorithm RSA -pkeyopt rsa_keygen_bits:4096" root.pem root.key 4095
leaf leaf-rsa8192 "-algorithm RSA -pkeyopt rsa_keygen_bits:8192" root.pem root.key 8192
leaf leaf-rsa1024 "-algorithm RSA -pkeyopt rsa_keygen_bits:1024" root.pem root.key 1024
leaf leaf-ed25519 "-algorithm ED25519" root.pem root.key 25519
leaf leaf-p521 "-algorithm EC -pkeyopt ec_paramgen_curve:P-521" root.pem root.key 521

# Other encodings of the same keys and certificates.
openssl rsa -in leaf-rsa.key -traditional -out leaf-rsa.pkcs1.key
openssl ec -in leaf-p256.key -out leaf-p256.sec1.key
openssl x509 -in leaf-rsa.pem -outform DER -out leaf-rsa.der
openssl pkcs8 -topk8 -nocrypt -in leaf-rsa.key -outform DER -out leaf-rsa.key.der
cat leaf-rsa.pem intermediate.pem > leaf-rsa.fullchain.pem
cat leaf-p256.pem leaf-p256.key > leaf-p256.combined.pem

# Encrypted PKCS#8 in the forms OpenSSL 3 and ACM produce.
openssl pkcs8 -topk8 -in leaf-rsa.key -v2 aes-256-cbc -v2prf hmacWithSHA256 -passout pass:$PASS -out leaf-rsa.aes256.key
openssl pkcs8 -topk8 -in leaf-p256.key -v2 aes-128-cbc -v2prf hmacWithSHA1 -passout pass:$PASS -out leaf-p256.aes128-sha1.key
openssl pkcs8 -topk8 -in leaf-p384.key -scrypt -passout pass:$PASS -out leaf-p384.scrypt.key
# Just over tessera's PBKDF2 iteration limit: refused before any decryption is tried.
openssl pkcs8 -topk8 -in leaf-p256.key -v2 aes-256-cbc -iter 10000001 -passout pass:$PASS -out leaf-p256.costly-pbkdf2.key
openssl pkcs8 -topk8 -in leaf-rsa.key -v2 aes-192-cbc -v2prf hmacWithSHA512 -passout pass:$PASS -out leaf-rsa.aes192-sha512.key
# Legacy PEM encryption (unsupported, must give a conversion hint).
openssl rsa -in leaf-rsa.key -traditional -aes128 -passout pass:$PASS -out leaf-rsa.legacy-encrypted.key

# PKCS#12: OpenSSL 3 default (AES-256/PBKDF2-SHA256), legacy (3DES/RC2), and no password.
openssl pkcs12 -export -in leaf-rsa.pem -inkey leaf-rsa.key -certfile intermediate.pem -passout pass:$PASS -out leaf-rsa.p12
openssl pkcs12 -export -legacy -in leaf-p256.pem -inkey leaf-p256.key -certfile intermediate.pem -passout pass: -out leaf-p256.legacy.p12
openssl pkcs12 -export -in leaf-p384.pem -inkey leaf-p384.key -passout pass: -out leaf-p384.nopass.p12

# Expired and not-yet-valid leaves (fixed dates through `openssl ca`).
mkdir -p ca-db && : > ca-db/index.txt && echo 1000 > ca-db/serial
dated() { # name start end
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key"
  openssl req -new -key "$1.key" -subj "/CN=$1" -out "$1.csr"
  openssl ca -batch -config <(cat ext.cnf; printf '[ca]\ndefault_ca = ca_section\n') -cert root.pem -keyfile root.key \
    -extfile ext.cnf -extensions leaf_ext -startdate "$2" -enddate "$3" -in "$1.csr" -out "$1.pem" -notext 2>/dev/null
  rm "$1.csr"
}
dated leaf-expired 20200101000000Z 20210101000000Z
dated leaf-future 20990101000000Z 21000101000000Z

rm -rf ca-db intermediate.csr ext.cnf
chmod 600 ./*.key
echo "test PKI written to $(pwd)"

# A TLS server certificate for 127.0.0.1/localhost, for tests that need an HTTPS endpoint.
gen_server() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -subj "/CN=localhost" -out server.csr
  openssl x509 -req -in server.csr -CA root.pem -CAkey root.key -set_serial 443 -days 3650 -sha256 \
    -extfile <(printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n') \
    -out server.pem
  rm server.csr
}
gen_server

# ML-DSA leaves: OpenSSL 3.0 cannot make them; the test venv's cryptography can.
"${PYTHON:-../../.venv/bin/python}" gen_mldsa.py

"""Keys in the OS keyring (the Linux kernel's keyutils store): `tessera key import|list|delete`
and `keyring:` key URIs, used for real CreateSessions against the local anchor. Each test runs
tessera in its own named session keyring (`keyctl session NAME`), as a login session or a
systemd service would provide."""

import json
import shutil
import subprocess
import uuid

import pytest

from conftest import CERTS, clean_env
from test_anchor import ROLE, Anchor, profile, ta


@pytest.fixture(scope="module")
def anchor(tessera_bin, tmp_path_factory):
    server = Anchor(tessera_bin, tmp_path_factory.mktemp("anchor"), tls=True)
    yield server
    server.stop()


@pytest.fixture
def keyring(tessera_bin):
    """Runs tessera in a fresh named session keyring; forgets what it imported afterwards."""
    assert shutil.which("keyctl"), "keyctl is missing (tests/setup installs keyutils)"
    session = f"tessera-test-{uuid.uuid4().hex[:12]}"

    def run(*args, **env):
        result = subprocess.run(["keyctl", "session", session, tessera_bin, *args], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, env=clean_env(**env), timeout=60)
        # keyctl announces the keyring it joined; what follows is tessera's own stderr.
        result.stderr = "".join(l for l in result.stderr.splitlines(True) if not l.startswith("Joined session keyring"))
        return result
    yield run
    for service in ("tessera", "ops"):
        for name in run("key", "list", "--service", service).stdout.split():
            if name.startswith("keyring:"):
                run("key", "delete", "--service", service, "--name", name.split("/")[-1])


def session(keyring, anchor, *identity, **env):
    out = keyring("credential-process", *identity, "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app",
                  "--endpoint", anchor.url, "--ca-bundle", anchor.cafile, **env)
    return out


@pytest.mark.parametrize("key,cert,chain", [
    ("leaf-p256.key", "leaf-p256.pem", "intermediate.pem"),
    ("leaf-rsa.key", "leaf-rsa.pem", "intermediate.pem"),
])
def test_an_imported_key_and_certificate_obtain_credentials(keyring, anchor, key, cert, chain):
    name = key.split(".")[0]
    imported = keyring("key", "import", "--name", name, "--private-key", str(CERTS / key), "--certificate", str(CERTS / cert))
    assert imported.returncode == 0, imported.stderr
    assert f"use it with: --private-key keyring:tessera/{name}" in imported.stdout
    out = session(keyring, anchor, "--private-key", f"keyring:{name}", "--intermediates", str(CERTS / chain))
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"].startswith("ASIA")


def test_a_keyring_key_signs_what_the_independent_verifier_accepts(keyring, stub_factory):
    stub = stub_factory()
    imported = keyring("key", "import", "--name", "stubbed", "--private-key", str(CERTS / "leaf-p256.key"),
                       "--certificate", str(CERTS / "leaf-p256.pem"))
    assert imported.returncode == 0, imported.stderr
    out = keyring("credential-process", "--private-key", "keyring:stubbed", "--trust-anchor-arn", ta("ta"),
                  "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app", "--endpoint", stub.url)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"] == "ASIASTUBEXAMPLE00001"
    stub.assert_all_verified()


def test_an_encrypted_key_stays_encrypted_and_needs_its_passphrase(keyring, anchor):
    imported = keyring("key", "import", "--service", "ops", "--name", "enc", "--private-key", str(CERTS / "leaf-rsa.aes256.key"),
                       "--certificate", str(CERTS / "leaf-rsa.pem"), TESSERA_KEY_PASSPHRASE="test-passphrase")
    assert imported.returncode == 0, imported.stderr
    identity = ["--private-key", "keyring:ops/enc", "--intermediates", str(CERTS / "intermediate.pem")]
    without = session(keyring, anchor, *identity)
    assert without.returncode == 1 and "passphrase" in without.stderr.splitlines()[0], without.stderr
    with_passphrase = session(keyring, anchor, *identity, TESSERA_KEY_PASSPHRASE="test-passphrase")
    assert with_passphrase.returncode == 0, with_passphrase.stderr


def test_list_and_delete(keyring):
    for name in ("b-key", "a-key"):
        assert keyring("key", "import", "--name", name, "--private-key", str(CERTS / "leaf-p256.combined.pem")).returncode == 0
    assert keyring("key", "import", "--name", "c-key", "--private-key", str(CERTS / "leaf-p384.key"),
                   "--certificate", str(CERTS / "leaf-p384.pem")).returncode == 0
    listed = keyring("key", "list").stdout.splitlines()
    assert listed == ["keyring:tessera/a-key\tkey", "keyring:tessera/b-key\tkey", "keyring:tessera/c-key\tkey and certificate"]
    assert keyring("key", "delete", "--name", "b-key").returncode == 0
    assert [line.split("\t")[0] for line in keyring("key", "list").stdout.splitlines()] == ["keyring:tessera/a-key", "keyring:tessera/c-key"]
    again = keyring("key", "delete", "--name", "b-key")
    assert again.returncode == 1 and "keyring:tessera/b-key is not in the OS keyring" in again.stderr


@pytest.mark.parametrize("args,expected", [
    (["credential-process", "--private-key", "keyring:absent", "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
      "--role-arn", f"{ROLE}/app"], "keyring:tessera/absent is not in the OS keyring; import it with `tessera key import --name absent"),
    (["credential-process", "--private-key", "keyring:bad name", "--trust-anchor-arn", ta("ta"), "--profile-arn", profile("p"),
      "--role-arn", f"{ROLE}/app"], "keyring URI keyring:bad name: service and name must be"),
    (["key", "import", "--name", "mismatch", "--private-key", str(CERTS / "leaf-p256.key"), "--certificate", str(CERTS / "leaf-rsa.pem")],
     "does not match certificate"),
    (["key", "import", "--name", "garbage", "--private-key", str(CERTS / "gen.sh")], "is not PEM, DER or PKCS#12"),
])
def test_keyring_mistakes_are_one_clear_line(keyring, args, expected):
    out = keyring(*args)
    assert out.returncode == 1
    assert expected in out.stderr.splitlines()[0], out.stderr
    assert "panicked" not in out.stderr
    assert keyring("key", "list").stdout == ""


def test_a_key_file_passphrase_from_the_keyring(keyring, anchor, tmp_path):
    # A fresh path: passphrases are stored per absolute key path.
    key = str(tmp_path / "leaf-rsa.aes256.key")
    shutil.copy(CERTS / "leaf-rsa.aes256.key", key)
    identity = ["--certificate", str(CERTS / "leaf-rsa.pem"), "--private-key", key, "--intermediates", str(CERTS / "intermediate.pem"),
                "--passphrase-from", "keyring"]
    missing = session(keyring, anchor, *identity)
    assert missing.returncode == 1 and f"no passphrase for {key} in the OS keyring" in missing.stderr.splitlines()[0], missing.stderr
    wrong = keyring("key", "set-passphrase", "--for", key, TESSERA_KEY_PASSPHRASE="not-it")
    assert wrong.returncode == 1 and "could not be decrypted" in wrong.stderr.splitlines()[0]
    stored = keyring("key", "set-passphrase", "--for", key, TESSERA_KEY_PASSPHRASE="test-passphrase")
    assert stored.returncode == 0, stored.stderr
    out = session(keyring, anchor, *identity)
    assert out.returncode == 0, out.stderr
    assert "test-passphrase" not in out.stderr + stored.stdout + stored.stderr

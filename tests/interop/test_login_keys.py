"""tessera login with the new key in the OS keyring (a named session keyring) and on a
PKCS#11 token (SoftHSM2, inspected with OpenSC's pkcs11-tool): the key never reaches a file,
the profile signs CreateSession with it, and logout removes it from its store."""

import shutil
import subprocess
import uuid

import pytest

from conftest import clean_env
from test_login import anchor, device_login, idp, person  # noqa: F401 (fixtures)

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "4321"


def credential_process(person):
    return person.run("credential-process", "--profile", "dev")


def test_a_keyring_key_signs_and_logout_deletes_it(person):
    assert shutil.which("keyctl"), "keyctl is missing (tests/setup installs keyutils)"
    person.prefix = ["keyctl", "session", f"tessera-login-{uuid.uuid4().hex[:10]}"]
    code, out, err, driven = device_login(person, "alice", *person.first_login_args(), "--key", "keyring:tessera/dev-login")
    assert driven.returncode == 0, driven.stderr
    assert code == 0, err
    assert "signed in as alice@example.com" in out
    assert not (person.data / "dev" / "key.pem").exists(), "the key went to the keyring, not a file"
    assert 'private-key = "keyring:tessera/dev-login"' in person.config.read_text()
    listed = person.run("key", "list", "--service", "tessera")
    assert "keyring:tessera/dev-login" in listed.stdout
    assert credential_process(person).returncode == 0
    out = person.run("logout", "--profile", "dev")
    assert out.returncode == 0, out.stderr
    assert "removed keyring:tessera/dev-login" in out.stdout
    assert "keyring:tessera/dev-login" not in person.run("key", "list", "--service", "tessera").stdout


def token_objects(conf):
    listed = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", "login", "--login", "--pin", PIN,
                             "--list-objects"], capture_output=True, text=True, env=clean_env(SOFTHSM2_CONF=str(conf)), timeout=60)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


@pytest.fixture
def softhsm(tmp_path):
    assert shutil.which("softhsm2-util") and shutil.which("pkcs11-tool"), "tests/setup installs softhsm2 and opensc"
    (tmp_path / "tokens").mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tmp_path / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    made = subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "login", "--pin", PIN, "--so-pin", "87654321"],
                          capture_output=True, text=True, env=clean_env(SOFTHSM2_CONF=str(conf)), timeout=60)
    assert made.returncode == 0, made.stderr
    return conf


def test_a_token_key_is_generated_on_the_token_and_logout_destroys_it(person, softhsm):
    person.extra = {"SOFTHSM2_CONF": str(softhsm), "TESSERA_PKCS11_PIN": PIN}
    key = "pkcs11:token=login;object=dev-login"
    code, out, err, _ = device_login(person, "alice", *person.first_login_args(), "--key", key, "--pkcs11-lib", MODULE)
    assert code == 0, err
    assert "signed in as alice@example.com" in out
    assert not (person.data / "dev" / "key.pem").exists()
    objects = token_objects(softhsm)
    assert "Private Key Object; EC" in objects and "label:      dev-login" in objects
    config = person.config.read_text()
    assert f'private-key = "{key}"' in config and PIN not in config
    again = credential_process(person)
    assert again.returncode == 0, again.stderr
    # A second login refuses to overwrite the token's key and leaves nothing new behind.
    code, _, err, _ = device_login(person, "alice")
    assert code == 1
    assert "a private key named 'dev-login' is already on the token" in err
    out = person.run("logout", "--profile", "dev")
    assert out.returncode == 0, out.stderr
    assert f"removed {key}" in out.stdout
    assert "dev-login" not in token_objects(softhsm)


@pytest.fixture
def swtpm(tmp_path):
    """A bare swtpm on loopback (no objects); yields its TCTI."""
    import socket
    import time
    from conftest import free_port
    assert shutil.which("swtpm") and shutil.which("tpm2_getcap"), "tests/setup installs swtpm and tpm2-tools"
    (tmp_path / "state").mkdir()
    for _ in range(5):
        port = free_port()
        process = subprocess.Popen(
            ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={tmp_path / 'state'}", "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
             "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        if process.poll() is None:
            break
    else:
        raise AssertionError("swtpm did not start on any of 5 port pairs")
    yield f"swtpm:host=127.0.0.1,port={port}"
    process.terminate()
    process.wait(timeout=10)


def persistent_handles(tcti):
    listed = subprocess.run(["tpm2_getcap", "handles-persistent"], capture_output=True, text=True,
                            env=clean_env(TPM2TOOLS_TCTI=tcti), timeout=60)
    assert listed.returncode == 0, listed.stderr
    return listed.stdout


def test_a_tpm_key_is_created_in_the_tpm_and_logout_evicts_it(person, swtpm):
    person.extra = {"TESSERA_TPM_TCTI": swtpm}
    code, out, err, _ = device_login(person, "alice", *person.first_login_args(), "--key", "tpm:handle:0x81000020")
    assert code == 0, err
    assert "signed in as alice@example.com" in out
    assert not (person.data / "dev" / "key.pem").exists()
    assert "0x81000020" in persistent_handles(swtpm)
    assert 'private-key = "tpm:handle:0x81000020"' in person.config.read_text()
    again = credential_process(person)
    assert again.returncode == 0, again.stderr
    out = person.run("logout", "--profile", "dev")
    assert out.returncode == 0, out.stderr
    assert "removed tpm:handle:0x81000020" in out.stdout
    assert "0x81000020" not in persistent_handles(swtpm)

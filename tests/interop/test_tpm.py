"""Keys in a TPM 2.0 (swtpm, provisioned with tpm2-tools): credentials from the local anchor
with a persistent-handle key and with a TSS2 key file, RSA and P-256, and every TPM failure as
one clear line with exit 1."""

import json
import shutil
import socket
import subprocess
import time

import pytest

from conftest import CERTS, clean_env, free_port, run_tessera
from test_anchor import ROLE, Anchor, profile, ta
from test_pkcs11 import local_ca_certifier

SRK_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|noda|restricted|decrypt"
KEY_ATTRIBUTES = "fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign"


class Tpm:
    """A swtpm on loopback with, under the standard owner primary:
    0x81000001: a persistent P-256 signing key (no password), certificate p256.crt;
    rsa.tss2.pem: a TSS2 RSA-2048 key file with password 'keypass', certificate rsa.crt;
    ec.tss2.pem: a TSS2 P-256 key file without a password, certificate ec.crt.
    Certificates come from `certify(public key PEM path, name)` (the local CA)."""

    def __init__(self, tmp, certify):
        for tool in ("swtpm", "tpm2_createprimary", "tpm2_encodeobject"):
            assert shutil.which(tool), f"{tool} is missing (tests/setup installs swtpm, swtpm-tools and tpm2-tools)"
        self.dir = tmp
        (tmp / "state").mkdir()
        # The swtpm TCTI expects the control channel on the next port; if that one is taken,
        # swtpm exits and another pair is tried.
        for _ in range(5):
            port = free_port()
            self.process = subprocess.Popen(
                ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={tmp / 'state'}", "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
                 "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1", "--flags", "not-need-init,startup-clear"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._answers(port):
                break
            self.process.kill()
        else:
            raise AssertionError("swtpm did not start on any of 5 port pairs")
        self.env = {"TPM2TOOLS_TCTI": f"swtpm:host=127.0.0.1,port={port}"}
        self.tools("tpm2_createprimary", "-C", "o", "-g", "sha256", "-G", "ecc256:aes128cfb", "-a", SRK_ATTRIBUTES, "-c", "srk.ctx")
        for name, algorithm, password in (("p256", "ecc256:ecdsa-sha256", None), ("rsa", "rsa2048:rsassa-sha256", "keypass"),
                                          ("ec", "ecc256:ecdsa-sha256", None)):
            auth = ["-p", password] if password else []
            self.tools("tpm2_create", "-C", "srk.ctx", "-G", algorithm, *auth, "-u", f"{name}.pub", "-r", f"{name}.priv", "-a", KEY_ATTRIBUTES)
            self.tools("tpm2_load", "-C", "srk.ctx", "-u", f"{name}.pub", "-r", f"{name}.priv", "-c", f"{name}.ctx")
            self.tools("tpm2_readpublic", "-c", f"{name}.ctx", "-f", "pem", "-o", f"{name}.pem")
            shutil.copy(certify(tmp / f"{name}.pem", f"tpm-{name}"), tmp / f"{name}.crt")
            if name == "p256":
                self.tools("tpm2_evictcontrol", "-C", "o", "-c", f"{name}.ctx", "0x81000001")
            else:
                self.tools("tpm2_encodeobject", "-C", "srk.ctx", "-u", f"{name}.pub", "-r", f"{name}.priv", *(["-p"] if password else []),
                           "-o", f"{name}.tss2.pem")

    def _answers(self, port):
        deadline = time.monotonic() + 10
        while self.process.poll() is None and time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def tools(self, *args):
        result = subprocess.run(args, cwd=self.dir, capture_output=True, text=True, env=clean_env(**self.env), timeout=60)
        assert result.returncode == 0, f"{args[0]}: {result.stderr}"
        # swtpm has few object slots; tpm2-tools leaves transient objects loaded.
        subprocess.run(["tpm2_flushcontext", "-t"], cwd=self.dir, capture_output=True, env=clean_env(**self.env), timeout=60)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def tpm(tessera_bin, anchor, tmp_path_factory):
    device = Tpm(tmp_path_factory.mktemp("tpm"), local_ca_certifier(tessera_bin, anchor.ca))
    yield device
    device.stop()


@pytest.fixture(scope="module")
def anchor(tessera_bin, tmp_path_factory):
    server = Anchor(tessera_bin, tmp_path_factory.mktemp("anchor"), tls=True)
    yield server
    server.stop()


def run(tessera_bin, tpm, anchor, key, certificate, **env):
    args = ["credential-process", "--private-key", key, *(["--certificate", str(tpm.dir / certificate)] if certificate else []),
            "--trust-anchor-arn", ta("local"), "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app", "--endpoint", anchor.url,
            "--ca-bundle", anchor.cafile]
    return run_tessera(tessera_bin, args, **{**tpm.env, **env})


@pytest.mark.parametrize("key,certificate,env", [
    ("tpm:handle:0x81000001", "p256.crt", {}),
    ("rsa.tss2.pem", "rsa.crt", {"TESSERA_KEY_PASSPHRASE": "keypass"}),
    ("ec.tss2.pem", "ec.crt", {}),
])
def test_tpm_keys_obtain_credentials(tessera_bin, tpm, anchor, key, certificate, env):
    key = key if key.startswith("tpm:") else str(tpm.dir / key)
    out = run(tessera_bin, tpm, anchor, key, certificate, **env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"].startswith("ASIA")


@pytest.mark.parametrize("key,certificate,env", [
    ("tpm:handle:0x81000001", "p256.crt", {}),
    ("rsa.tss2.pem", "rsa.crt", {"TESSERA_KEY_PASSPHRASE": "keypass"}),
])
def test_tpm_keys_sign_what_the_independent_verifier_accepts(tessera_bin, tpm, stub_factory, key, certificate, env):
    stub = stub_factory()
    key = key if key.startswith("tpm:") else str(tpm.dir / key)
    args = ["credential-process", "--private-key", key, "--certificate", str(tpm.dir / certificate),
            "--trust-anchor-arn", ta("local"), "--profile-arn", profile("p"), "--role-arn", f"{ROLE}/app", "--endpoint", stub.url]
    out = run_tessera(tessera_bin, args, **{**tpm.env, **env})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["AccessKeyId"] == "ASIASTUBEXAMPLE00001"
    stub.assert_all_verified()


@pytest.mark.parametrize("key,certificate,env,expected", [
    ("rsa.tss2.pem", "rsa.crt", {"TESSERA_KEY_PASSPHRASE": "wrong"}, "the TPM refused the password of TPM"),
    ("tpm:handle:0x81000009", "p256.crt", {}, "no key at TPM handle 0x81000009"),
    ("tpm:handle:0x81000001", "rsa.crt", {}, "does not match the certificate"),
    ("tpm:handle:0x81000001", None, {}, "a TPM key needs --certificate"),
    ("tpm:handle:0x01000001", "p256.crt", {}, "persistent handles are 0x81000000-0x81ffffff"),
    ("tpm:handle:0x81000001", "p256.crt", {"TPM2TOOLS_TCTI": "swtpm:host=127.0.0.1,port=9"}, "cannot open the TPM at 'swtpm:host=127.0.0.1,port=9'"),
    ("tpm:handle:0x81000001", str(CERTS / "leaf-mldsa44.pem"), {}, "holds an ML-DSA-44 key, which a TPM cannot sign with"),
])
def test_tpm_failures_are_one_clear_line(tessera_bin, tpm, anchor, key, certificate, env, expected):
    key = key if key.startswith("tpm:") else str(tpm.dir / key)
    out = run(tessera_bin, tpm, anchor, key, certificate, **env)
    assert out.returncode == 1
    lines = out.stderr.splitlines()
    assert lines and lines[0].startswith("tessera: ") and expected in lines[0], out.stderr
    assert "panicked" not in out.stderr and "keypass" not in out.stderr
    if "password" in expected:
        # A wrong password counts against dictionary-attack protection; reset it for the others.
        tpm.tools("tpm2_dictionarylockout", "-c", "-p", "")

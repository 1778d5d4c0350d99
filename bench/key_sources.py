#!/usr/bin/env python3
"""Signatures per second by key source: file keys vs a SoftHSM2 token (PKCS#11) vs swtpm (TPM),
provisioned exactly as the interop tests do (tests/interop/test_pkcs11.py, test_tpm.py), then
timed by the criterion bench benches/key_sources.rs. Prints a table of median times and
signatures per second, with the ratio to the file key of the same type. Needs tests/setup."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests/interop"))

from test_pkcs11 import MODULE, PIN, Token, local_ca_certifier  # noqa: E402
from test_tpm import Tpm  # noqa: E402

from common import TESSERA, ensure_release_build, table  # noqa: E402


def main():
    ensure_release_build()
    tmp = Path(tempfile.mkdtemp(prefix="tessera-bench-keys-"))
    (tmp / "hsm").mkdir()
    (tmp / "tpm").mkdir()
    subprocess.run([str(TESSERA), "ca", "--dir", str(tmp / "ca"), "init"], check=True, capture_output=True)
    certify = local_ca_certifier(str(TESSERA), tmp / "ca")
    token = Token(tmp / "hsm", certify)
    tpm = Tpm(tmp / "tpm", certify)
    env = dict(os.environ, **token.env, **tpm.env, TESSERA_PKCS11_LIB=MODULE, TESSERA_PKCS11_PIN=PIN, TESSERA_BENCH_TPM_RSA_PASSWORD="keypass", TSS2_LOG="all+NONE",
               TESSERA_BENCH_PKCS11_P256="pkcs11:token=tessera;object=p256|pkcs11:token=tessera;object=p256",
               TESSERA_BENCH_PKCS11_RSA="pkcs11:token=tessera;id=%02|pkcs11:token=tessera;id=%02",
               TESSERA_BENCH_TPM_P256=f"{tpm.dir / 'p256.crt'}|tpm:handle:0x81000001",
               TESSERA_BENCH_TPM_RSA=f"{tpm.dir / 'rsa.crt'}|{tpm.dir / 'rsa.tss2.pem'}")
    try:
        bench = subprocess.run(["cargo", "bench", "--quiet", "--features", "tpm", "--bench", "key_sources", "--", "--noplot"], cwd=ROOT,
                               env=env, capture_output=True, text=True)
        if bench.returncode != 0:
            raise SystemExit(f"bench: cargo bench failed:\n{bench.stderr[-3000:]}")
    finally:
        tpm.stop()
    medians = {}
    for estimate in (ROOT / "target/criterion/sign_by_key_source").glob("*/new/estimates.json"):
        medians[estimate.parent.parent.name] = json.loads(estimate.read_text())["median"]["point_estimate"] / 1e6
    baseline = {"file_p256": "file_p256", "pkcs11_p256": "file_p256", "tpm_p256": "file_p256",
                "file_rsa2048": "file_rsa2048", "pkcs11_rsa": "file_rsa2048", "tpm_rsa": "file_rsa2048"}
    labels = {"file_p256": "file, P-256", "pkcs11_p256": "SoftHSM2 (PKCS#11), P-256", "tpm_p256": "swtpm, P-256, persistent handle",
              "file_rsa2048": "file, RSA-2048", "pkcs11_rsa": "SoftHSM2, RSA-2048 generated on the token, CKA_ALWAYS_AUTHENTICATE",
              "tpm_rsa": "swtpm, RSA-2048, TSS2 key file (primary + load + flush per signature)"}
    rows = [(labels[n], f"{medians[n]:.3f}", f"{1000 / medians[n]:.0f}", f"{medians[n] / medians[baseline[n]]:.1f}x")
            for n in labels if n in medians]
    print("### signatures by key source (criterion median, one signature)\n")
    print(table(["key", "ms", "signatures/s", "time vs file key"], rows))


if __name__ == "__main__":
    main()

"""Where a setting comes from: a flag beats its TESSERA_ variable, which beats the config file's
profile, which beats the default; checked for the settings that shape the request, as the
independent stub sees it (the query's ARNs, the body's duration and session name, which
certificate signs, which endpoint is called). The flag-or-variable pair itself is clap's (every
flag with a variable is declared `env = …`)."""

import base64
import json
from urllib.parse import parse_qs

import pytest

from conftest import CERTS, run_tessera

ARN = "arn:aws:rolesanywhere:us-east-1:123456789012"


def value(request, setting):
    """What the stub received for a setting."""
    query = {k: v[0] for k, v in parse_qs(request["query"]).items()}
    body = json.loads(base64.b64decode(request["body"]))
    return {
        "trust-anchor-arn": query.get("trustAnchorArn"),
        "profile-arn": query.get("profileArn"),
        "role-arn": query.get("roleArn"),
        "session-duration": str(body.get("durationSeconds")),
        "role-session-name": body.get("roleSessionName"),
        "certificate": request["headers"]["authorization"].split("Credential=")[1].split("/")[0],
    }[setting]


def serial(pem):
    from cryptography import x509
    return str(x509.load_pem_x509_certificate((CERTS / pem).read_bytes()).serial_number)


# setting, (file, env, flag) values, what the stub sees for each, the default when none is set.
SETTINGS = [
    ("trust-anchor-arn", [f"{ARN}:trust-anchor/{n}" for n in ("file", "env", "flag")], None),
    ("profile-arn", [f"{ARN}:profile/{n}" for n in ("file", "env", "flag")], None),
    ("role-arn", [f"arn:aws:iam::123456789012:role/{n}" for n in ("file", "env", "flag")], None),
    ("session-duration", ["1000", "2000", "3000"], "3600"),
    ("role-session-name", ["from-file", "from-env", "from-flag"], None),
]
BASE = {"trust-anchor-arn": f"{ARN}:trust-anchor/base", "profile-arn": f"{ARN}:profile/base",
        "role-arn": "arn:aws:iam::123456789012:role/base"}


@pytest.mark.parametrize("setting,values,default", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_a_flag_beats_the_environment_beats_the_file_beats_the_default(tessera_bin, stub_factory, tmp_path, setting, values, default):
    stub = stub_factory()
    env_name = "TESSERA_" + setting.upper().replace("-", "_")
    file_value, env_value, flag_value = values

    def run(in_file, in_env, in_flag):
        settings = dict(BASE, certificate=str(CERTS / "leaf-p256.pem"), **{"private-key": str(CERTS / "leaf-p256.key")},
                        endpoint=stub.url)
        if in_file:
            settings[setting] = file_value
        config = tmp_path / "config.toml"
        lines = [f'{k} = {v if k == "session-duration" else json.dumps(v)}' for k, v in settings.items()]
        config.write_text("[profiles.dev]\n" + "\n".join(lines) + "\n")
        args = ["credential-process", "--config", str(config), "--profile", "dev"]
        if in_flag:
            args += [f"--{setting}", flag_value]
        env = {env_name: env_value} if in_env else {}
        before = len(stub.requests())
        out = run_tessera(tessera_bin, args, **env)
        assert out.returncode == 0, out.stderr
        return value(stub.requests()[before], setting)

    assert run(True, True, True) == flag_value
    assert run(True, True, False) == env_value
    assert run(True, False, False) == file_value
    expected_default = default if default is not None else (BASE.get(setting))
    assert run(False, False, False) == expected_default


def test_the_certificate_follows_the_same_order(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    pairs = {"file": ("leaf-p256.pem", "leaf-p256.key"), "env": ("leaf-p384.pem", "leaf-p384.key"),
             "flag": ("leaf-rsa.pem", "leaf-rsa.key")}
    config = tmp_path / "config.toml"
    config.write_text("[profiles.dev]\n" + "\n".join([
        f'certificate = "{CERTS / pairs["file"][0]}"', f'private-key = "{CERTS / pairs["file"][1]}"',
        f'trust-anchor-arn = "{BASE["trust-anchor-arn"]}"', f'profile-arn = "{BASE["profile-arn"]}"',
        f'role-arn = "{BASE["role-arn"]}"', f'endpoint = "{stub.url}"']) + "\n")
    base = ["credential-process", "--config", str(config), "--profile", "dev"]
    env = {"TESSERA_CERTIFICATE": str(CERTS / pairs["env"][0]), "TESSERA_PRIVATE_KEY": str(CERTS / pairs["env"][1])}
    flag = ["--certificate", str(CERTS / pairs["flag"][0]), "--private-key", str(CERTS / pairs["flag"][1])]
    for args, environment, source in ((base + flag, env, "flag"), (base, env, "env"), (base, {}, "file")):
        out = run_tessera(tessera_bin, args, **environment)
        assert out.returncode == 0, out.stderr
        assert value(stub.requests()[-1], "certificate") == serial(pairs[source][0]), source
    stub.assert_all_verified(at_least=3)


def test_the_endpoint_follows_the_same_order(tessera_bin, stub_factory, tmp_path):
    stubs = {source: stub_factory() for source in ("file", "env", "flag")}
    config = tmp_path / "config.toml"
    config.write_text("[profiles.dev]\n" + "\n".join([
        f'certificate = "{CERTS / "leaf-p256.pem"}"', f'private-key = "{CERTS / "leaf-p256.key"}"',
        f'trust-anchor-arn = "{BASE["trust-anchor-arn"]}"', f'profile-arn = "{BASE["profile-arn"]}"',
        f'role-arn = "{BASE["role-arn"]}"', f'endpoint = "{stubs["file"].url}"']) + "\n")
    base = ["credential-process", "--config", str(config), "--profile", "dev"]
    env = {"TESSERA_ENDPOINT": stubs["env"].url}
    for args, environment, source in ((base + ["--endpoint", stubs["flag"].url], env, "flag"), (base, env, "env"), (base, {}, "file")):
        out = run_tessera(tessera_bin, args, **environment)
        assert out.returncode == 0, out.stderr
    assert [len(stubs[s].requests()) for s in ("file", "env", "flag")] == [1, 1, 1]

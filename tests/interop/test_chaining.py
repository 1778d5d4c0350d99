"""Role chaining and attribution: tessera profiles with source-profile and [assume-role] tables,
followed by the AWS CLI against the local anchor's STS (trust policies, sts:ExternalId, the
1-hour cap, a sticky source identity) and against moto with SigV4 enforced; the console from a
chained session in Chromium; each bad input as one line."""

import datetime
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import clean_env, moto_bootstrap, moto_enforce_auth, run_tessera
from test_console import open_pages

ACCOUNT = "123456789012"
RA = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}"
DEV = f"arn:aws:iam::{ACCOUNT}:role/dev"
ADMIN = "arn:aws:iam::222233334444:role/admin"
AUDIT = "arn:aws:iam::333344445555:role/audit"
FINAL = "arn:aws:iam::333344445555:role/final"
AWS = Path(sys.executable).parent / "aws"

ANCHOR = f"""
accountId = "{ACCOUNT}"
region = "us-east-1"

[[trustAnchors]]
arn = "{RA}:trust-anchor/ta"
certificates = ["{{ca}}/root.pem"]

[[profiles]]
arn = "{RA}:profile/p"
roleArns = ["{DEV}"]
acceptRoleSessionName = true

[[profiles]]
arn = "{RA}:profile/strict"
roleArns = ["{DEV}"]

[[roles]]
arn = "{DEV}"

[[roles]]
arn = "{ADMIN}"
trustedPrincipals = ["{DEV}"]
[[roles.assumeRoleConditions]]
test = "StringEquals"
key = "sts:ExternalId"
values = ["ops-7f3a"]

[[roles]]
arn = "{AUDIT}"
trustedPrincipals = ["arn:aws:iam::222233334444:role/*"]
[[roles.assumeRoleConditions]]
test = "StringLike"
key = "sts:SourceIdentity"
values = ["CN=*@example.com"]

[[roles]]
arn = "{FINAL}"
trustedPrincipals = ["{AUDIT}"]

[[roles]]
arn = "arn:aws:iam::{ACCOUNT}:role/locked"
trustedPrincipals = ["arn:aws:iam::{ACCOUNT}:role/nobody"]
"""


def hop(role, **extra):
    fields = ", ".join(f'{k.replace("_", "-")} = {json.dumps(v)}' for k, v in {"role_arn": role, **extra}.items())
    return "{ " + fields + " }"


def tessera_config(cert, endpoint):
    base = (f'certificate = "{cert}.pem"\nprivate-key = "{cert}.key"\ntrust-anchor-arn = "{RA}:trust-anchor/ta"\n'
            f'role-arn = "{DEV}"\nendpoint = "{endpoint}"\n')
    chained = {
        "admin": ("dev", hop(ADMIN, external_id="ops-7f3a")),
        "audit": ("admin", hop(AUDIT, role_session_name="{cn}-audit")),
        "wrong-id": ("dev", hop(ADMIN, external_id="guess")),
        "locked": ("dev", hop(f"arn:aws:iam::{ACCOUNT}:role/locked")),
        "long": ("dev", hop(ADMIN, external_id="ops-7f3a", duration=7200)),
        "rename": ("dev", hop(ADMIN, external_id="ops-7f3a", source_identity="mallory")),
        "loop-a": ("loop-b", hop(ADMIN)),
        "loop-b": ("loop-a", hop(ADMIN)),
        "ghost": ("nowhere", hop(ADMIN)),
    }
    text = f'[profiles.dev]\n{base}profile-arn = "{RA}:profile/p"\n'
    text += f'[profiles.named]\n{base}profile-arn = "{RA}:profile/strict"\nrole-session-name = "{{cn}}"\n'
    for name, (source, table) in chained.items():
        text += f'[profiles.{name}]\nsource-profile = "{source}"\nassume-role = {table}\n'
    return text


class ChainSetup:
    """A local CA with alice@example.com's certificate, the anchor, tessera's config and an AWS
    CLI config whose profiles run `tessera credential-process --profile NAME`."""

    def __init__(self, binary, tmp):
        self.bin, self.tmp = binary, tmp
        ca = tmp / "ca"
        for args in (["init"], ["issue", "--cn", "alice@example.com"]):
            subprocess.run([binary, "ca", "--dir", str(ca), *args], check=True, capture_output=True, env=clean_env())
        (tmp / "anchor.toml").write_text(ANCHOR.format(ca=ca))
        self.log = tmp / "anchor.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([binary, "anchor", "--config", str(tmp / "anchor.toml"), "--ca-dir", str(ca),
                                             "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=log, text=True, env=clean_env())
        match = re.search(r"listening on (\S+)", self.process.stdout.readline())
        assert match, self.log.read_text()
        self.url = match.group(1)
        self.config = tmp / "config.toml"
        self.config.write_text(tessera_config(ca / "alice-example.com", self.url))
        self.aws_config = tmp / "aws-config"
        self.aws_config.write_text("".join(
            f"[profile {name}]\nregion = us-east-1\ncredential_process = {binary} credential-process --config {self.config} --profile {name}\n"
            for name in ("dev", "admin", "audit", "long")))

    def tessera(self, *args, **env):
        return run_tessera(self.bin, [*args], **env)

    def credentials(self, profile, **env):
        return self.tessera("credential-process", "--config", str(self.config), "--profile", profile, **env)

    def aws(self, profile, *args):
        env = clean_env(AWS_CONFIG_FILE=str(self.aws_config), AWS_SHARED_CREDENTIALS_FILE=str(self.tmp / "none"))
        return subprocess.run([str(AWS), *args, "--profile", profile, "--endpoint-url", self.url, "--output", "json"],
                              capture_output=True, text=True, env=env, timeout=120)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def chain(tessera_bin, tmp_path_factory):
    setup = ChainSetup(tessera_bin, tmp_path_factory.mktemp("chain"))
    yield setup
    setup.stop()


def caller_arn(chain, profile):
    result = chain.aws(profile, "sts", "get-caller-identity")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["Arn"]


def test_the_aws_cli_through_a_chained_profile_reports_the_second_role(chain):
    assert caller_arn(chain, "dev").startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/dev/")
    assert caller_arn(chain, "admin") == "arn:aws:sts::222233334444:assumed-role/admin/alice@example.com"
    granted = [line for line in chain.log.read_text().splitlines() if "AssumeRole granted" in line]
    assert granted and "source_identity=CN=alice@example.com" in granted[-1], granted


def test_two_hops_keep_the_persons_name_as_the_source_identity(chain):
    # The audit role's trust policy requires sts:SourceIdentity CN=*@example.com on the second hop.
    assert caller_arn(chain, "audit") == "arn:aws:sts::333344445555:assumed-role/audit/alice@example.com-audit"
    # A third hop made by the AWS CLI itself: STS answers with the session's source identity.
    result = chain.aws("audit", "sts", "assume-role", "--role-arn", FINAL, "--role-session-name", "cli-hop")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["SourceIdentity"] == "CN=alice@example.com"
    assert answer["AssumedRoleUser"]["Arn"] == "arn:aws:sts::333344445555:assumed-role/final/cli-hop"


def test_the_console_from_a_chained_profile_names_the_role_and_the_person(chain):
    # Chained credentials cannot have a SessionDuration: the anchor refuses it as AWS does, and
    # tessera asks once more without it.
    out = chain.tessera("console", "--config", str(chain.config), "--profile", "audit", "--print", "--duration", "3600",
                        "--federation-endpoint", f"{chain.url}/federation")
    assert out.returncode == 0, out.stderr
    assert "refused SessionDuration (chained credentials cannot have it); asked again without it" in out.stderr
    (page,) = open_pages(out.stdout.strip())
    assert page["status"] == 200, page
    assert "arn:aws:sts::333344445555:assumed-role/audit/alice@example.com-audit" in page["text"]
    assert "CN=alice@example.com" in page["text"]


def test_a_duration_over_one_hour_is_capped_with_one_warning(chain):
    out = chain.credentials("long")
    assert out.returncode == 0, out.stderr
    warnings = [line for line in out.stderr.splitlines() if "1 hour" in line]
    assert warnings == [" WARN profile long: assume-role duration 7200 s is over the 1 hour AWS allows a chained session; asking for 3600 s"], out.stderr
    expiration = datetime.datetime.fromisoformat(json.loads(out.stdout)["Expiration"].replace("Z", "+00:00"))
    left = expiration - datetime.datetime.now(datetime.timezone.utc)
    assert datetime.timedelta(minutes=55) < left <= datetime.timedelta(hours=1)
    # The anchor refuses what the AWS CLI asks for directly, with STS's words.
    result = chain.aws("dev", "sts", "assume-role", "--role-arn", ADMIN, "--role-session-name", "xy",
                       "--external-id", "ops-7f3a", "--duration-seconds", "7200")
    assert result.returncode != 0
    assert "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining." in result.stderr


def last_line(out):
    """The error line (warnings, deferred, come after it)."""
    assert out.returncode == 1, (out.returncode, out.stdout, out.stderr)
    assert out.stdout == ""
    errors = [line for line in out.stderr.splitlines() if line.startswith("tessera: ")]
    assert len(errors) == 1, out.stderr
    return errors[0]


def test_a_wrong_external_id_or_an_untrusting_role_is_one_line_saying_what_to_fix(chain):
    line = last_line(chain.credentials("wrong-id"))
    assert line.startswith(f"tessera: profile wrong-id: cannot assume {ADMIN} at {chain.url}/: STS answered HTTP 403 AccessDenied: "
                           f"User: arn:aws:sts::{ACCOUNT}:assumed-role/dev/"), line
    assert line.endswith(f"is not authorized to perform: sts:AssumeRole on resource: {ADMIN}; the trust policy of {ADMIN} must trust {DEV}, "
                         "and external-id in [profiles.wrong-id.assume-role] must be the one it expects"), line
    line = last_line(chain.credentials("locked"))
    assert "AccessDenied" in line and f"the trust policy of arn:aws:iam::{ACCOUNT}:role/locked must trust {DEV}" in line, line


def test_a_source_identity_the_chain_tries_to_change_is_refused(chain):
    line = last_line(chain.credentials("rename"))
    assert "SourceIdentity cannot be changed: the calling session's source identity is 'CN=alice@example.com', not 'mallory'" in line, line
    assert line.endswith("remove source-identity from [profiles.rename.assume-role]: a session's source identity, once set, stays for the whole chain"), line


def test_a_cycle_or_an_unknown_source_profile_is_refused_before_any_call(chain):
    line = last_line(chain.credentials("loop-a"))
    assert line == f"tessera: source-profile links in {chain.config} form a cycle: loop-a → loop-b → loop-a; the chain must end at a profile with a certificate", line
    line = last_line(chain.credentials("ghost"))
    assert line.startswith(f"tessera: profile 'nowhere' is not in {chain.config}"), line


def test_a_role_session_name_the_ra_profile_does_not_accept_says_what_to_change(chain):
    line = last_line(chain.credentials("named"))
    assert line == (f"tessera: profile named: the Roles Anywhere profile {RA}:profile/strict does not accept a role session name, "
                    "and this profile sends 'alice@example.com'; remove role-session-name from the profile (and --role-session-name), "
                    "or enable acceptRoleSessionName on the Roles Anywhere profile"), line


def test_the_cache_never_answers_for_a_chain_it_did_not_check(chain, tmp_path):
    cache = dict(TESSERA_CACHE="file", TESSERA_CACHE_DIR=str(tmp_path / "cache"))
    good = chain.credentials("admin", **cache)
    assert good.returncode == 0, good.stderr
    assert chain.credentials("admin", **cache).stdout == good.stdout  # warm
    original = chain.config.read_text()
    try:
        chain.config.write_text(original.replace('external-id = "ops-7f3a" }', 'external-id = "changed" }', 1))
        line = last_line(chain.credentials("admin", **cache))
        assert "AccessDenied" in line, line
    finally:
        chain.config.write_text(original)


def test_a_chain_against_moto_with_signatures_enforced(tessera_bin, moto_server, tmp_path):
    import boto3
    from test_anchor import Anchor, ta, profile

    key = moto_bootstrap(moto_server)
    iam = boto3.client("iam", endpoint_url=moto_server, region_name="us-east-1",
                       aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])
    # moto matches the principal against the calling session's ARN (the anchor names sessions
    # by the certificate's serial), and checks this trust policy once auth is enforced.
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/0123456789abcdef01"
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": session}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName="second", AssumeRolePolicyDocument=json.dumps(trust))
    elsewhere = {**trust, "Statement": [{**trust["Statement"][0], "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/bootstrap"}}]}
    iam.create_role(RoleName="closed", AssumeRolePolicyDocument=json.dumps(elsewhere))
    moto_enforce_auth(moto_server)
    upstream = Anchor(tessera_bin, tmp_path, tls=False, extra_args=[
        "--sts-endpoint", moto_server, "--sts-access-key-id", key["AccessKeyId"], "--sts-secret-access-key", key["SecretAccessKey"]])
    try:
        from conftest import CERTS
        config = tmp_path / "config.toml"
        config.write_text(
            f'[profiles.ra]\ncertificate = "{CERTS}/leaf-p256.pem"\nprivate-key = "{CERTS}/leaf-p256.key"\n'
            f'intermediates = "{CERTS}/intermediate.pem"\ntrust-anchor-arn = "{ta("ta")}"\nprofile-arn = "{profile("p")}"\n'
            f'role-arn = "arn:aws:iam::{ACCOUNT}:role/app"\nendpoint = "{upstream.url}"\n'
            f'[profiles.second]\nsource-profile = "ra"\n'
            f'assume-role = {hop(f"arn:aws:iam::{ACCOUNT}:role/second", sts_endpoint=moto_server)}\n'
            f'[profiles.closed]\nsource-profile = "ra"\n'
            f'assume-role = {hop(f"arn:aws:iam::{ACCOUNT}:role/closed", sts_endpoint=moto_server)}\n')
        aws_config = tmp_path / "aws-config"
        aws_config.write_text(f"[profile second]\nregion = us-east-1\ncredential_process = {tessera_bin} credential-process --config {config} --profile second\n")
        env = clean_env(AWS_CONFIG_FILE=str(aws_config), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
        result = subprocess.run([str(AWS), "sts", "get-caller-identity", "--profile", "second", "--endpoint-url", moto_server, "--output", "json"],
                                capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/second/leaf-p256"
        # moto applies the second role's trust policy too.
        line = last_line(run_tessera(tessera_bin, ["credential-process", "--config", str(config), "--profile", "closed"]))
        assert f"cannot assume arn:aws:iam::{ACCOUNT}:role/closed at {moto_server}/: STS answered HTTP 403 AccessDenied" in line, line
    finally:
        upstream.stop()


def test_exec_and_serve_hand_out_the_chained_role(chain, tmp_path):
    aws = [str(AWS), "sts", "get-caller-identity", "--endpoint-url", chain.url, "--region", "us-east-1", "--output", "json"]
    out = run_tessera(chain.bin, ["exec", "--config", str(chain.config), "--profile", "audit", "--", *aws])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["Arn"] == "arn:aws:sts::333344445555:assumed-role/audit/alice@example.com-audit"

    tokens = tmp_path / "tokens"
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        serve = subprocess.Popen([chain.bin, "serve", "--config", str(chain.config), "--profile", "admin", "--listen", "127.0.0.1:0",
                                  "--admin-listen", "127.0.0.1:0", "--token-dir", str(tokens)],
                                 stdout=subprocess.PIPE, stderr=err, text=True, env=clean_env())
    try:
        address = re.search(r"listening on http://(\S+) ", serve.stdout.readline()).group(1)
        env = clean_env(AWS_CONTAINER_CREDENTIALS_FULL_URI=f"http://{address}/v1/credentials/admin",
                        AWS_CONTAINER_AUTHORIZATION_TOKEN=(tokens / "admin.token").read_text().strip(),
                        AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
        result = subprocess.run(aws, capture_output=True, text=True, env=env, timeout=120)
        assert result.returncode == 0, result.stderr + log.read_text()
        assert json.loads(result.stdout)["Arn"] == "arn:aws:sts::222233334444:assumed-role/admin/alice@example.com"
    finally:
        serve.terminate()
        serve.wait(timeout=10)

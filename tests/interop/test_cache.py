"""credential-process's cross-process cache: warm runs make no CreateSession, concurrent cold
runs make exactly one, and cache trouble never fails a run."""

import json
import re
import shutil
import subprocess
from pathlib import Path

from conftest import arn_args, clean_env, identity_args, run_tessera

IDENTITY = identity_args("leaf-p256.pem", "leaf-p256.key", "intermediate.pem")


def _args(stub):
    return ["credential-process", *IDENTITY, *arn_args(), "--endpoint", f"http://127.0.0.1:{stub.port}"]


def _cached(tessera_bin, stub, cache_dir, **env):
    return run_tessera(tessera_bin, _args(stub), TESSERA_CACHE="file", TESSERA_CACHE_DIR=str(cache_dir), **env)


def test_a_warm_run_makes_no_create_session(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    first = _cached(tessera_bin, stub, tmp_path / "cache")
    second = _cached(tessera_bin, stub, tmp_path / "cache")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    assert len(stub.requests()) == 1
    entries = list((tmp_path / "cache").glob("*.json"))
    assert len(entries) == 1 and entries[0].stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "cache").stat().st_mode & 0o777 == 0o700


def test_the_launcher_answers_a_warm_run_by_itself(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    warm = _cached(tessera_bin, stub, tmp_path / "cache")
    assert warm.returncode == 0, warm.stderr
    # `tessera` copied without the tessera-full binary it starts for everything else.
    lone = tmp_path / "lone" / "tessera"
    lone.parent.mkdir()
    shutil.copy2(tessera_bin, lone)
    again = _cached(str(lone), stub, tmp_path / "cache")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(warm.stdout)
    # A cold cache, --debug and any other command are the full binary's: without it, one line.
    missing = (f"tessera: cannot start {lone.with_name('tessera-full')}: No such file or directory (os error 2); "
               "the tessera and tessera-full binaries are installed side by side, so reinstall tessera")
    for args, cache in ((_args(stub), "cold"), ([*_args(stub), "--debug"], "cache"), (["version"], "cache")):
        out = run_tessera(str(lone), args, TESSERA_CACHE="file", TESSERA_CACHE_DIR=str(tmp_path / cache))
        assert out.returncode == 1 and out.stdout == "", (args, out.stdout)
        assert out.stderr.splitlines()[0] == missing, (args, out.stderr)
    assert len(stub.requests()) == 1
    # A key behind a passphrase is unlocked before any warm answer, which only the full binary
    # does: the launcher leaves even a fresh entry for such an identity to it.
    locked = ["credential-process", *identity_args("leaf-rsa.pem", "leaf-rsa.aes256.key", "intermediate.pem"), *arn_args(),
              "--endpoint", f"http://127.0.0.1:{stub.port}"]
    env = {"TESSERA_CACHE": "file", "TESSERA_CACHE_DIR": str(tmp_path / "cache"), "TESSERA_KEY_PASSPHRASE": "test-passphrase"}
    assert all(run_tessera(tessera_bin, locked, **env).returncode == 0 for _ in range(2))
    assert len(stub.requests()) == 2, "the second run of the locked identity was warm"
    out = run_tessera(str(lone), locked, **env)
    assert out.returncode == 1 and out.stderr.splitlines()[0] == missing, out.stderr


def test_32_concurrent_cold_runs_make_exactly_one_create_session(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    env = clean_env(TESSERA_CACHE="file", TESSERA_CACHE_DIR=str(tmp_path / "cache"))
    runs = [subprocess.Popen([tessera_bin, *_args(stub)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=env, text=True) for _ in range(32)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert all(run.returncode == 0 for run in runs), [err for _, err in outputs]
    assert len({json.loads(out)["AccessKeyId"] for out, _ in outputs}) == 1
    assert len(stub.requests()) == 1


def _age_entry(cache_dir, left_minutes, lifetime_minutes):
    """Rewrites the cached entry as if issued `lifetime - left` minutes ago."""
    import datetime
    (entry,) = cache_dir.glob("*.json")
    document = json.loads(entry.read_text())
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    document["Expiration"] = (now + datetime.timedelta(minutes=left_minutes)).strftime(fmt)
    document["IssuedAt"] = (now - datetime.timedelta(minutes=lifetime_minutes - left_minutes)).strftime(fmt)
    entry.write_text(json.dumps(document))


def test_cached_credentials_within_the_sdk_refresh_window_are_not_handed_out(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    cache = tmp_path / "cache"
    assert _cached(tessera_bin, stub, cache).returncode == 0
    # A 1-hour session with 20 minutes left is still handed out…
    _age_entry(cache, left_minutes=20, lifetime_minutes=60)
    assert _cached(tessera_bin, stub, cache).returncode == 0
    assert len(stub.requests()) == 1
    # …but with 16 minutes left (botocore's 15-minute window plus a minute) it is refreshed.
    _age_entry(cache, left_minutes=16, lifetime_minutes=60)
    result = _cached(tessera_bin, stub, cache)
    assert result.returncode == 0
    assert len(stub.requests()) == 2
    import datetime
    left = datetime.datetime.strptime(json.loads(result.stdout)["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc)
    assert left.total_seconds() > 15 * 60


def test_a_corrupt_entry_is_replaced_with_a_warning(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    assert _cached(tessera_bin, stub, tmp_path / "cache").returncode == 0
    (entry,) = (tmp_path / "cache").glob("*.json")
    entry.write_text("{not json")
    result = _cached(tessera_bin, stub, tmp_path / "cache")
    assert result.returncode == 0, result.stderr
    assert "is corrupt" in result.stderr
    assert json.loads(result.stdout)["Version"] == 1
    assert len(stub.requests()) == 2
    assert json.loads(entry.read_text())["Version"] == 1


def test_an_unusable_cache_directory_still_answers(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory should be")
    result = _cached(tessera_bin, stub, blocker / "cache")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["Version"] == 1
    assert "cannot create directory" in result.stderr


def test_a_full_cache_filesystem_still_answers_and_leaves_no_partial_entry(tessera_bin, stub_factory, full_filesystem):
    stub = stub_factory()
    cache = full_filesystem.path / "cache"
    cache.mkdir(mode=0o700)
    full_filesystem.fill()
    for run in range(2):
        result = _cached(tessera_bin, stub, cache)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Version"] == 1
        assert "No space left on device" in result.stderr, result.stderr
        assert [p.name for p in cache.iterdir() if p.suffix != ".lock"] == [], "a partial cache entry was left"
    assert len(stub.requests()) == 2


def test_cache_none_always_calls_create_session(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    for _ in range(2):
        result = run_tessera(tessera_bin, _args(stub), TESSERA_CACHE="none", TESSERA_CACHE_DIR=str(tmp_path / "cache"))
        assert result.returncode == 0, result.stderr
    assert len(stub.requests()) == 2
    assert not (tmp_path / "cache").exists()


def test_different_requests_do_not_share_an_entry(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    assert _cached(tessera_bin, stub, tmp_path / "cache").returncode == 0
    other = run_tessera(tessera_bin, [*_args(stub), "--session-duration", "1800"], TESSERA_CACHE="file", TESSERA_CACHE_DIR=str(tmp_path / "cache"))
    assert other.returncode == 0
    assert len(stub.requests()) == 2


def test_the_keyring_cache_answers_warm_runs_without_a_file(tessera_bin, stub_factory, tmp_path):
    stub = stub_factory()
    runs = [run_tessera(tessera_bin, _args(stub), TESSERA_CACHE="keyring", TESSERA_CACHE_DIR=str(tmp_path / "cache")) for _ in range(2)]
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert "not caching" not in runs[0].stderr, runs[0].stderr
    assert json.loads(runs[0].stdout) == json.loads(runs[1].stdout)
    assert len(stub.requests()) == 1
    assert not list((tmp_path / "cache").glob("*.json")), "keyring mode writes no credentials file"
    # The kernel holds the entry: /proc/keys lists the keys this user can view.
    keys = Path("/proc/keys").read_text()
    assert re.search(r" user +keyring:[0-9a-f]{64}@tessera: \d+", keys), "no tessera entry in the kernel keyring"

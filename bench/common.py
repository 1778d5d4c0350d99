"""Helpers shared by the whole-process benchmarks: ports, wrk, nginx, the local anchor, tessera
processes, memory readings and Markdown tables. Loopback only; everything started is stopped."""

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# TESSERA_BENCH_BINARY measures another build (an older commit's, say) with the same scripts.
TESSERA = Path(os.environ.get("TESSERA_BENCH_BINARY", ROOT / "target/release/tessera"))
# Servers start as the full binary the launcher would exec (an older, single-binary build has
# none): the same process either way, and valgrind, which does not follow an exec, sees it.
SERVER = TESSERA.with_name("tessera-full") if TESSERA.with_name("tessera-full").exists() else TESSERA
CERTS = ROOT / "certs/test"
ACCOUNT = "123456789012"
TA = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:trust-anchor/bench"
PROFILE = f"arn:aws:rolesanywhere:us-east-1:{ACCOUNT}:profile/bench"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
# wrk settings used for every HTTP comparison, so each pair runs at the same load
# (TESSERA_BENCH_SECONDS shortens each run, as bench/smoke does in CI).
WRK_THREADS, WRK_CONNECTIONS = 1, 32
WRK_SECONDS = int(os.environ.get("TESSERA_BENCH_SECONDS", "10"))
# On a machine with two or more cores, the load generator gets CPU 0 and every server under test
# (and its baseline) gets CPU 1, so they do not fight over cores and each server has exactly one.
# A script may turn this off (set_pinning) to also measure with the OS scheduling freely.
_pinning = {"on": (os.cpu_count() or 1) >= 2}


def set_pinning(on):
    _pinning["on"] = on and (os.cpu_count() or 1) >= 2


def pinning():
    return _pinning["on"]


def pinned(args, cpu):
    """`args` run on one CPU (when pinning is on)."""
    return ["taskset", "-c", str(cpu), *args] if pinning() else list(args)


def on_server_cpu(args):
    return pinned(args, 1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scratch(name):
    """A new temporary directory, readable by nginx's unprivileged workers."""
    path = Path(tempfile.mkdtemp(prefix=f"tessera-bench-{name}-"))
    path.chmod(0o755)
    return path


def cache_dir(name):
    """A credential cache directory for tessera to create: it uses only a directory that is
    private to its user (0700), which scratch() directories are not."""
    return scratch(name) / "cache"


def clean_env(**extra):
    """The environment without AWS or tessera settings that could change what is measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TESSERA_"))}
    env.update(extra)
    return env


def wrk(url, headers=(), seconds=WRK_SECONDS):
    """Runs wrk; returns requests/s, p50 ms, p99 ms and the count of socket errors. Any non-2xx
    answer fails the benchmark: a fast error page is not a result."""
    args = ["wrk", "-t", str(WRK_THREADS), "-c", str(WRK_CONNECTIONS), "-d", f"{seconds}s", "--latency"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run(pinned([*args, url], 0), capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def percentile(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if failed:
        raise SystemExit(f"bench: {failed.group(1)} non-2xx answers from {url}")
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return {"rps": rps, "p50": percentile(50), "p99": percentile(99), "errors": errors}


def status_kib(pid, field):
    """A /proc/<pid>/status memory field (VmRSS, VmHWM) in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", text).group(1))


def table(header, rows):
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def wait_until(check, what, seconds=20):
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what} did not happen within {seconds} s")
        time.sleep(0.05)


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


class Nginx:
    """nginx on loopback with the given `server { ... }` bodies (one per listen port) and
    `upstream` blocks. With `under` (a command prefix such as valgrind's), one nginx process runs
    in the foreground under it, without a master process."""

    def __init__(self, servers, upstreams=(), under=None):
        self.dir = scratch("nginx")
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"
        blocks = "\n".join(f"server {{ {body} }}" for body in servers)
        (self.dir / "nginx.conf").write_text(f"""
worker_processes {1 if pinning() else "auto"};
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {self.dir}/body;
  proxy_temp_path {self.dir}/proxy;
  fastcgi_temp_path {self.dir}/fastcgi;
  uwsgi_temp_path {self.dir}/uwsgi;
  scgi_temp_path {self.dir}/scgi;
  {"".join(upstreams)}
  {blocks}
}}
""")
        command = [self.binary, "-c", str(self.dir / "nginx.conf")]
        self.foreground = None
        if under:
            self.foreground = subprocess.Popen([*under, *command, "-g", "daemon off; master_process off;"],
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            subprocess.run(on_server_cpu(command), check=True)

    def stop(self):
        if self.foreground:
            # Under valgrind a SIGTERM that lands between two system calls can be lost, so it
            # is sent again until nginx exits (its profile is written on exit).
            for _ in range(12):
                self.foreground.terminate()
                try:
                    self.foreground.wait(timeout=5)
                    return
                except subprocess.TimeoutExpired:
                    continue
            self.foreground.kill()
            raise SystemExit("bench: nginx under valgrind did not stop on SIGTERM within 60 s")
        subprocess.run([self.binary, "-c", str(self.dir / "nginx.conf"), "-s", "stop"], check=False, stderr=subprocess.DEVNULL)


def reverse_proxy(port, upstream):
    """An nginx `server` block proxying to `upstream` over kept-alive HTTP/1.1 connections."""
    return (f"listen 127.0.0.1:{port}; location / {{ proxy_pass http://{upstream}; proxy_http_version 1.1; "
            "proxy_set_header Connection \"\"; }")


def kept_alive(name, port):
    """An nginx `upstream` block `name` for the server on `port`, with idle connections kept."""
    return f"upstream {name} {{ server 127.0.0.1:{port}; keepalive 64; }}"


def signing_proxy(upstream_port, under=()):
    """`tessera proxy` signing for S3 with fixed credentials, to the plain-HTTP upstream on
    `upstream_port`; its address is `.address()`. `under` is a command prefix (valgrind)."""
    env = clean_env(AWS_ACCESS_KEY_ID="AKIABENCH", AWS_SECRET_ACCESS_KEY="bench-secret")
    return Tessera(["proxy", "--credentials", "env", "--upstream", f"http://127.0.0.1:{upstream_port}", "--service", "s3",
                    "--signing-region", "us-east-1", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"],
                   env=env, name="proxy", under=under)


class Tessera:
    """A tessera process whose first stdout line announces its address. With `timed`, a regular
    expression, the monotonic times of the stderr lines it matches are kept in `times` as they
    arrive (the logs carry no timestamps)."""

    def __init__(self, args, env=None, name="tessera", timed=None, under=()):
        self.log = scratch(name) / "stderr.log"
        self.times = []
        with open(self.log, "w") as err:
            self.process = subprocess.Popen(on_server_cpu([*under, str(SERVER), *args]), stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE if timed else err, text=True, env=env or clean_env())
        if timed:
            threading.Thread(target=self._time_lines, args=(re.compile(timed),), daemon=True).start()
        self.first_line = self.process.stdout.readline()
        if not self.first_line:
            self.process.wait(timeout=10)
            raise SystemExit(f"bench: tessera {args[0]} did not start: {self.log.read_text()}")
        self.pid = self.process.pid
        # The rest of stdout is read as it comes (serve announces every profile's token file):
        # a full pipe would stop the process.
        self.more_lines = []
        threading.Thread(target=lambda: self.more_lines.extend(self.process.stdout), daemon=True).start()

    def _time_lines(self, pattern):
        with open(self.log, "a") as log:
            for line in self.process.stderr:
                if pattern.search(line):
                    self.times.append(time.monotonic())
                log.write(line)
                log.flush()

    def address(self, pattern=r"listening on (?:https?://)?(\S+?)[ ,\n]"):
        return re.search(pattern, self.first_line).group(1)

    def stop(self, timeout=10):
        self.process.terminate()
        self.process.wait(timeout=timeout)


def start_anchor(tls, timed=None):
    """The local anchor trusting certs/test/root.pem; returns (process, base URL, CA file). With
    `timed`, the times of its log lines that match it are kept (see Tessera)."""
    tmp = scratch("anchor")
    config = tmp / "anchor.toml"
    config.write_text(f"""
accountId = "{ACCOUNT}"
region = "us-east-1"
[[trustAnchors]]
arn = "{TA}"
certificates = ["{CERTS}/root.pem"]
[[profiles]]
arn = "{PROFILE}"
roleArns = ["{ROLE}"]
[[roles]]
arn = "{ROLE}"
""")
    args = ["anchor", "--config", str(config), "--ca-dir", str(tmp / "ca"), "--listen", "127.0.0.1:0"]
    anchor = Tessera(args + (["--tls"] if tls else []), name="anchor", timed=timed)
    url = re.search(r"listening on (\S+)", anchor.first_line).group(1)
    return anchor, url, str(tmp / "ca/root.pem")


def identity_flags(endpoint):
    """credential-process/serve flags for the P-256 test identity at `endpoint`."""
    return ["--certificate", str(CERTS / "leaf-p256.pem"), "--private-key", str(CERTS / "leaf-p256.key"),
            "--intermediates", str(CERTS / "intermediate.pem"), "--trust-anchor-arn", TA, "--profile-arn", PROFILE,
            "--role-arn", ROLE, "--endpoint", endpoint]


def ensure_release_build():
    if not TESSERA.exists():
        raise SystemExit("bench: no target/release/tessera; run bench/run (it builds one)")


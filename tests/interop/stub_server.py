"""A stand-in Roles Anywhere endpoint for tests.

Every POST /sessions is checked with the independent verifier (ra_verifier); a valid request
gets 201 and the credentials given in --credentials (or made-up ones), an invalid one 403
AccessDeniedException "Invalid signature". --mode makes it misbehave instead. Each request is
appended to --record as one JSON line. The first line on stdout is the port.
"""

import argparse
import base64
import datetime
import json
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import ra_verifier

MODES = ["ok", "hang", "slow", "non-json", "empty-set", "status-500", "status-503", "throttle", "expired", "no-expiration",
         "access-denied", "truncated", "clock-skew", "escapes", "huge"]

# What a hostile endpoint puts in an error message: a title-setting OSC sequence, a colour and a
# line break, which a terminal would act on.
ESCAPES = "\x1b]0;owned\x07\x1b[31mred\r\nsecond line\x9b"


def make_handler(args, lock):
    served = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):  # keep stderr quiet
            pass

        def _send(self, status, body, error_type=None):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "stub-request-1")
            if error_type:
                self.send_header("X-Amzn-ErrorType", error_type)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            arrived = time.time()
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            path, _, query = self.path.partition("?")
            headers = {k.lower(): v for k, v in self.headers.items()}
            record = {
                "at": arrived,
                "method": "POST",
                "path": path,
                "query": query,
                "headers": headers,
                "body": base64.b64encode(body).decode(),
            }
            try:
                ra_verifier.verify("POST", path, query, headers, body)
                record["verified"] = True
            except (ra_verifier.VerificationError, KeyError, ValueError) as exc:
                record["verified"] = False
                record["reason"] = str(exc)
            if args.record:
                with lock, open(args.record, "a", encoding="utf-8") as out:
                    out.write(json.dumps(record) + "\n")

            with lock:
                served["count"] += 1
                # --fail-first N: the mode applies to the first N requests, then all is well.
                mode = args.mode if args.fail_first is None or served["count"] <= args.fail_first else "ok"
            if mode == "hang":
                time.sleep(30)
                return self._send(503, {"message": "too late"})
            if mode == "slow":
                time.sleep(3)
                mode = "ok"
            if mode == "truncated":
                # Promise a body, send half of it, and hang up.
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "400")
                self.end_headers()
                self.wfile.write(b'{"credentialSet":[{"credentials":{"accessKeyId":"ASIA')
                self.wfile.flush()
                self.close_connection = True
                return None
            if mode == "clock-skew":
                return self._send(403, {"message": "Signature expired: the request time is too far from the server time"},
                                  "AccessDeniedException")
            if mode == "escapes":
                # In the body: a control character in a header is refused by the HTTP parser itself.
                return self._send(403, {"__type": "AccessDeniedException\x1b[2J", "message": ESCAPES})
            if mode == "huge":
                return self._send(201, b'{"credentialSet":[], "pad":"' + b"x" * (2 * 1024 * 1024) + b'"}')
            if mode == "status-503":
                return self._send(503, {"message": "Service unavailable"}, "ServiceUnavailableException")
            if mode == "non-json":
                return self._send(201, b"<html>not json</html>")
            if mode == "empty-set":
                return self._send(201, {"credentialSet": []})
            if mode == "status-500":
                return self._send(500, {"message": "internal failure"}, "InternalServerException")
            if mode == "throttle":
                return self._send(429, {"message": "Rate exceeded"}, "ThrottlingException")
            if mode == "access-denied" or not record["verified"]:
                message = "Untrusted signing certificate" if record["verified"] else "Invalid signature"
                return self._send(403, {"message": message}, "AccessDeniedException")
            now = datetime.datetime.now(datetime.timezone.utc)
            if args.credentials:
                with open(args.credentials, encoding="utf-8") as f:
                    creds = json.load(f)
            else:
                creds = {
                    "accessKeyId": "ASIASTUBEXAMPLE00001",
                    "secretAccessKey": "stub/secret+access/key",
                    "sessionToken": "stub-session-token",
                    "expiration": (now + datetime.timedelta(seconds=args.expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
            if mode == "expired":
                creds = dict(creds, expiration=(now - datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"))
            if mode == "no-expiration":
                creds = {k: v for k, v in creds.items() if k != "expiration"}
            self._send(201, {
                "credentialSet": [{
                    "credentials": creds,
                    "assumedRoleUser": {"arn": "arn:aws:sts::123456789012:assumed-role/app/stub", "assumedRoleId": "AROASTUB:stub"},
                    "roleArn": "arn:aws:iam::123456789012:role/app",
                    "packedPolicySize": 0,
                    "sourceIdentity": "CN=stub",
                }],
                "subjectArn": "arn:aws:rolesanywhere:us-east-1:123456789012:subject/stub",
            })

    return Handler


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--record")
    parser.add_argument("--credentials")
    parser.add_argument("--expires-in", type=int, default=3600)
    parser.add_argument("--fail-first", type=int, help="misbehave (--mode) for the first N requests only")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(args, threading.Lock()))
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The Python alternative to `tessera credential-process`, as users script it: one
iam-rolesanywhere-session CreateSession per call, printed as credential_process JSON.

Usage: python_create_session.py CERT KEY CHAIN TRUST_ANCHOR_ARN PROFILE_ARN ROLE_ARN HOST:PORT CA_FILE
"""

import json
import sys

from iam_rolesanywhere_session import IAMRolesAnywhereSession


def main():
    cert, key, chain, anchor, profile, role, endpoint, cafile = sys.argv[1:]
    session = IAMRolesAnywhereSession(
        profile_arn=profile, role_arn=role, trust_anchor_arn=anchor, certificate=cert, private_key=key,
        certificate_chain=chain, region="us-east-1", endpoint=endpoint, verify=cafile,
    ).get_session()
    credentials = session.get_credentials().get_frozen_credentials()
    print(json.dumps({"Version": 1, "AccessKeyId": credentials.access_key, "SecretAccessKey": credentials.secret_key,
                      "SessionToken": credentials.token}))


if __name__ == "__main__":
    main()

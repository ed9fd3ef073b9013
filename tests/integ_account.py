"""`make integ`'s first step: is there an AWS account to deploy the end-to-end test to?

Without credentials the CDK CLI would synthesize, fail to resolve an account for every stack,
and the target would end as if an assertion had failed. botocore looks where the CDK CLI
looks (environment, shared files, SSO, instance or container role), for the profile the
command's arguments name; nothing is sent to AWS.
"""

from __future__ import annotations

import argparse
import sys

import boto3
from botocore.exceptions import BotoCoreError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--profile")
    profile = parser.parse_known_args(argv)[0].profile
    try:
        found, why = boto3.Session(profile_name=profile).get_credentials(), "no AWS credentials"
    except BotoCoreError as error:  # an unknown profile, an expired SSO login, a broken file
        found, why = None, str(error)
    if found is None:
        print(
            f"error: no AWS account found ({why}): nothing was deployed and no assertion ran; "
            'sign in (aws configure, aws sso login) or name a profile: make integ ARGS="--profile NAME"',
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

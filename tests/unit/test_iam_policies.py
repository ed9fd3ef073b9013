"""Every IAM policy the app writes names actions and condition keys that IAM knows.

IAM accepts a policy with a misspelt action or condition key and simply never matches it: an
Allow then allows nothing and a Deny denies nothing, silently. The reference is IAM's own
service authorization data, which the ``policy_sentry`` package carries offline.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
from policy_sentry.querying.actions import get_actions_for_service
from policy_sentry.querying.conditions import get_condition_keys_for_service

APPS = ["dev_app", "prod_app"]
_POLICY_PROPERTIES = ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument")
# Global condition keys, valid with every service:
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html
GLOBAL_CONDITION_KEYS = frozenset(
    key.lower()
    for key in """
    aws:CalledVia aws:CalledViaFirst aws:CalledViaLast aws:CurrentTime aws:EpochTime
    aws:FederatedProvider aws:MultiFactorAuthAge aws:MultiFactorAuthPresent aws:PrincipalAccount
    aws:PrincipalArn aws:PrincipalIsAWSService aws:PrincipalOrgID aws:PrincipalOrgPaths
    aws:PrincipalServiceName aws:PrincipalServiceNamesList aws:PrincipalType aws:referer
    aws:RequestedRegion aws:ResourceAccount aws:ResourceOrgID aws:ResourceOrgPaths
    aws:SecureTransport aws:SourceAccount aws:SourceArn aws:SourceIdentity aws:SourceIp
    aws:SourceOrgID aws:SourceOrgPaths aws:SourceVpc aws:SourceVpce aws:TokenIssueTime
    aws:UserAgent aws:userid aws:username aws:ViaAWSService aws:VpcSourceIp
    """.split()
)


def _statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        documents = [properties.get(name) for name in _POLICY_PROPERTIES]
        documents += [p["PolicyDocument"] for p in properties.get("Policies", [])]
        for document in filter(None, documents):
            for statement in document["Statement"]:
                yield logical_id, statement


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


@cache
def _actions(service: str) -> tuple[str, ...]:
    return tuple(a.lower() for a in get_actions_for_service(service))


@cache
def _condition_patterns(service: str) -> tuple[str, ...]:
    # Templates such as ec2:ResourceTag/${TagKey} stand for any tag key.
    return tuple(k.lower().replace("${tagkey}", "*") for k in get_condition_keys_for_service(service))


def _known_action(action: str) -> bool:
    service = action.split(":", 1)[0]
    return any(fnmatch.fnmatchcase(known, action.lower()) for known in _actions(service))


def _known_condition_key(key: str, actions: list[str]) -> bool:
    key = key.lower()
    if key in GLOBAL_CONDITION_KEYS or fnmatch.fnmatchcase(key, "aws:*tag*/*") or key == "aws:tagkeys":
        return True
    services = {a.split(":", 1)[0] for a in actions}
    return any(fnmatch.fnmatchcase(key, pattern) for s in services for pattern in _condition_patterns(s))


@pytest.mark.parametrize("app_name", APPS)
def test_every_action_and_condition_key_is_one_iam_knows(request, app_name):
    app = request.getfixturevalue(app_name)
    checked = 0
    for stack_name, template in app.templates.items():
        for logical_id, statement in _statements(template):
            actions = _listed(statement.get("Action", []))
            for action in actions:
                assert _known_action(action), f"{stack_name}/{logical_id}: unknown action {action}"
            for operator, keys in statement.get("Condition", {}).items():
                for key in keys:
                    assert _known_condition_key(key, actions), (
                        f"{stack_name}/{logical_id}: {operator} on {key}, unknown for {actions}"
                    )
                    checked += 1
    assert checked >= 5


def test_the_check_finds_a_misspelt_action_and_condition_key():
    assert _known_action("kms:ReEncryptFrom")
    assert not _known_action("kms:ReEncryptForm")
    assert _known_condition_key("kms:ViaService", ["kms:Decrypt"])
    assert not _known_condition_key("kms:ViaServices", ["kms:Decrypt"])
    assert _known_condition_key("ec2:ResourceTag/VolumeGrantAttach-1234", ["ec2:AttachVolume"])
    assert _known_condition_key("cloudwatch:namespace", ["cloudwatch:PutMetricData"])
    assert not _known_condition_key("cloudwatch:namespace", ["s3:GetObject"])

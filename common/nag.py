"""Acknowledging a cdk-nag finding on exactly the resource it names."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct

# Reasons shorter than this are not reasons; tests/unit/test_nag.py enforces the same floor.
MIN_REASON_LENGTH = 40


def acknowledge(resource: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge AwsSolutions ``rule`` (e.g. ``AwsSolutions-S1``) on ``resource`` only."""
    if len(reason) < MIN_REASON_LENGTH:
        raise ValueError(f"acknowledgement of {rule} needs a real reason, got {reason!r}")
    Validations.of(resource).acknowledge(Acknowledgment(id=f"AwsSolutions::{rule}", reason=reason))

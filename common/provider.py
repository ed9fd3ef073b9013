"""aws-cdk-lib's custom-resource Provider, with cdk-nag's findings on its framework acknowledged where they
arise: the framework's own functions, roles and waiter state machine, which the app does not write."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import custom_resources as cr
from constructs import Construct

from common.nag import acknowledge, acknowledge_lambda_logs, default_policy


def handler_function(
    scope: Construct, construct_id: str, *, code: lambda_.Code, handler: str, description: str, **props
) -> lambda_.Function:
    """A Python handler the framework calls: each call is one quick step, a minute at most."""
    return lambda_.Function(
        scope,
        construct_id,
        description=description,
        runtime=lambda_.Runtime.PYTHON_3_14,
        handler=handler,
        code=code,
        timeout=Duration.minutes(1),
        **props,
    )


def provider(scope: Construct, construct_id: str, **props) -> cr.Provider:
    """``cr.Provider(scope, construct_id, **props)``, its framework accepted by cdk-nag."""
    made = cr.Provider(scope, construct_id, **props)
    stack = Stack.of(made)
    handlers = [props[name] for name in ("on_event_handler", "is_complete_handler") if props.get(name)]
    for child in made.node.children:
        if isinstance(child, lambda_.Function):
            acknowledge_lambda_logs(child.role, f"aws-cdk-lib's custom-resource framework ({child.node.id})")
            _invokes(default_policy(child.role), stack, handlers)
        elif isinstance(child, Construct) and isinstance(child.node.default_child, sfn.CfnStateMachine):
            machine = child.node.default_child
            reason = (
                "aws-cdk-lib's waiter of a custom resource only calls the framework's isComplete function "
                "every query interval; that function and the app's handler log every look"
            )
            acknowledge(machine, "AwsSolutions-SF1", reason)
            acknowledge(machine, "AwsSolutions-SF2", reason)
            framework = [c for c in made.node.children if isinstance(c, lambda_.Function)]
            _invokes(default_policy(child.node.find_child("Role")), stack, framework)
    return made


def _invokes(policy: Construct, stack: Stack, functions: list[lambda_.Function]) -> None:
    """lambda:InvokeFunction on every version of ``functions``, as aws-cdk-lib grants it."""
    for function in functions:
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{stack.get_logical_id(function.node.default_child)}.Arn>:*]",
            "aws-cdk-lib's Provider lets its framework invoke the handler function it wraps, any version "
            "(ARN:*); the function is the app's or the framework's own",
        )

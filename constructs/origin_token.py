"""The secret CloudFront sends to the web server, so that only this distribution gets through."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct
from constructs.nag import acknowledge

TOKEN_LENGTH = 48


class OriginToken(Construct):
    """A random token in Secrets Manager, one secret per ``generation``.

    CloudFront takes the value through a dynamic reference, resolved at deploy time and never
    written in the template; the web server reads the secret itself. Raising the generation
    creates a new secret (a new random value) and deletes the old one: the distribution and
    the server both follow in the same deployment, and the server keeps accepting the
    previous token for an hour while CloudFront rolls the change out to its edges.
    Anyone allowed to read the distribution's configuration can read the value there.
    """

    def __init__(self, scope: Construct, construct_id: str, *, generation: int) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            f"Generation{generation}",
            description=f"Token the site distribution sends to the web server (generation {generation})",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=TOKEN_LENGTH, exclude_punctuation=True, include_space=False
            ),
            # A rotated-out token has no value to keep.
            removal_policy=RemovalPolicy.DESTROY,
        )
        acknowledge(
            self.secret.node.default_child,
            "AwsSolutions-SMG4",
            "CloudFront holds a copy of this token that only a stack update can change, so it is "
            "rotated by raising the origin_token_generation setting, not by a rotation Lambda.",
        )

    @property
    def secret_arn(self) -> str:
        return self.secret.secret_arn

    @property
    def value(self) -> str:
        """A dynamic reference to the token, for the distribution's origin header."""
        return self.secret.secret_value.unsafe_unwrap()

    def grant_read(self, grantee: iam.IGrantable) -> None:
        self.secret.grant_read(grantee)

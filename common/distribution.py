"""A CloudFront distribution with the defaults every distribution of the site shares."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aws_cdk import Aws, Duration, Fn
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from constructs import Construct

from common.nag import acknowledge
from common.regions import cloudfront_logs_delivered, regional_name


def private_bucket_origin(scope: Construct, construct_id: str, bucket: s3.IBucket) -> cloudfront.IOrigin:
    """``bucket`` as an origin that only CloudFront can read, through Origin Access Control."""
    access = cloudfront.S3OriginAccessControl(scope, construct_id)
    # CloudFront's longest names: origin access controls 64 characters, response headers policies 128.
    access.node.default_child.add_property_override(
        "OriginAccessControlConfig.Name", regional_name(access, max_length=64)
    )
    return origins.S3BucketOrigin.with_origin_access_control(bucket, origin_access_control=access)


class SecureDistribution(Construct):
    """HTTPS only, HTTP/2 and HTTP/3, security headers, access logs; WAF, geo rules and a domain optional."""

    def __init__(self, scope: Construct, construct_id: str, **props: Any) -> None:
        """``props``: the keyword arguments of :meth:`_distribute`."""
        super().__init__(scope, construct_id)
        self._distribute(**props)

    def _distribute(
        self,
        *,
        origin: cloudfront.IOrigin,
        cache_policy: cloudfront.ICachePolicy,
        comment: str,
        price_class: str,
        log_bucket: s3.IBucket,
        log_prefix: str,
        content_security_policy: str,
        web_acl_arn: str | None = None,
        geo_allowlist: Sequence[str] = (),
        domain_name: str | None = None,
        certificate_arn: str | None = None,
        path_origins: Mapping[str, cloudfront.IOrigin] | None = None,
        viewer_request_function: cloudfront.IFunction | None = None,
        error_responses: Sequence[cloudfront.ErrorResponse] = (),
    ) -> None:
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment=f"Security headers: {comment}",
            response_headers_policy_name=regional_name(self, max_length=128),
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=Duration.days(730), include_subdomains=True, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy, override=True
                ),
            ),
        )
        custom_domain = {}
        if domain_name and certificate_arn:
            custom_domain = {
                "domain_names": [domain_name],
                "certificate": acm.Certificate.from_certificate_arn(self, "Certificate", certificate_arn),
                "minimum_protocol_version": cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            }
        # What every path shares: HTTPS, the security headers, reads only (and the L2's compression).
        viewer = {
            "viewer_protocol_policy": cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            "response_headers_policy": self.headers,
            "allowed_methods": cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        }
        on_request = cloudfront.FunctionEventType.VIEWER_REQUEST
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=comment,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                cache_policy=cache_policy,
                function_associations=[
                    cloudfront.FunctionAssociation(function=viewer_request_function, event_type=on_request)
                ]
                if viewer_request_function
                else None,
                **viewer,
            ),
            # Fixed content under its own paths: cached, with the same viewer rules.
            additional_behaviors={
                pattern: cloudfront.BehaviorOptions(
                    origin=path_origin, cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED, **viewer
                )
                for pattern, path_origin in (path_origins or {}).items()
            },
            error_responses=list(error_responses) or None,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass[f"PRICE_CLASS_{price_class.upper()}"],
            log_bucket=log_bucket,
            log_file_prefix=log_prefix,
            web_acl_id=web_acl_arn,
            geo_restriction=cloudfront.GeoRestriction.allowlist(*geo_allowlist) if geo_allowlist else None,
            **custom_domain,
        )
        resource = self.distribution.node.default_child
        # Only where CloudFront can deliver the logs: a stack in an opt-in Region deploys
        # without them instead of failing or losing them silently.
        resource.add_property_override(
            "DistributionConfig.Logging",
            Fn.condition_if(
                cloudfront_logs_delivered(self).logical_id,
                {"Bucket": log_bucket.bucket_regional_domain_name, "Prefix": log_prefix},
                Aws.NO_VALUE,
            ),
        )
        if not custom_domain:
            acknowledge(
                resource,
                "AwsSolutions-CFR4",
                "No custom domain is configured, so viewers get the default *.cloudfront.net "
                "certificate, for which CloudFront cannot enforce a TLSv1.2 minimum; setting "
                "domain_name and certificate_arn raises it to TLSv1.2_2021.",
            )
        if not web_acl_arn:
            acknowledge(
                resource,
                "AwsSolutions-CFR2",
                "WAF is optional (setting waf_web_acl_arn): a web ACL costs at least USD 5 a "
                "month plus rules, more than the rest of this small static site together.",
            )
        if not geo_allowlist:
            acknowledge(
                resource,
                "AwsSolutions-CFR1",
                "The site is public worldwide by design; a country allowlist can be set with "
                "the geo_allowlist setting when the audience is known.",
            )

    @property
    def domain_name(self) -> str:
        return self.distribution.distribution_domain_name

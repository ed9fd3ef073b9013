"""A CloudFront distribution with the defaults every distribution of the site shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


@dataclass(frozen=True, kw_only=True)
class DistributionOptions:
    """What a distribution is called, where it logs, what its pages may load; the deployment's choices."""

    comment: str
    price_class: str
    log_bucket: s3.IBucket
    log_prefix: str
    content_security_policy: str
    web_acl_arn: str | None = None
    geo_allowlist: Sequence[str] = ()
    domain_name: str | None = None
    certificate_arn: str | None = None


class SecureDistribution(Construct):
    """HTTPS only, HTTP/2 and HTTP/3, security headers, access logs; WAF, geo rules and a domain optional."""

    def __init__(
        self, scope: Construct, construct_id: str, *, options: DistributionOptions, origin: cloudfront.IOrigin
    ) -> None:
        super().__init__(scope, construct_id)
        self._distribute(options, origin)

    def _distribute(
        self,
        options: DistributionOptions,
        origin: cloudfront.IOrigin,
        cache_policy: cloudfront.ICachePolicy | None = None,  # CachingOptimized
        *,
        viewer_request_function: cloudfront.IFunction | None = None,
        error_responses: Sequence[cloudfront.ErrorResponse] = (),
    ) -> None:
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment=f"Security headers: {options.comment}",
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
                    content_security_policy=options.content_security_policy, override=True
                ),
            ),
        )
        custom_domain = {}
        if options.domain_name and options.certificate_arn:
            certificate = acm.Certificate.from_certificate_arn(self, "Certificate", options.certificate_arn)
            custom_domain = {
                "domain_names": [options.domain_name],
                "certificate": certificate,
                "minimum_protocol_version": cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021,
            }
        # What every path shares: HTTPS, the security headers, reads only (and the L2's compression).
        self._viewer = {
            "viewer_protocol_policy": cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            "response_headers_policy": self.headers,
            "allowed_methods": cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        }
        geo = options.geo_allowlist
        on_request = cloudfront.FunctionEventType.VIEWER_REQUEST
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=options.comment,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                cache_policy=cache_policy or cloudfront.CachePolicy.CACHING_OPTIMIZED,
                function_associations=[
                    cloudfront.FunctionAssociation(function=viewer_request_function, event_type=on_request)
                ]
                if viewer_request_function
                else None,
                **self._viewer,
            ),
            error_responses=list(error_responses) or None,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass[f"PRICE_CLASS_{options.price_class.upper()}"],
            log_bucket=options.log_bucket,
            log_file_prefix=options.log_prefix,
            web_acl_id=options.web_acl_arn,
            geo_restriction=cloudfront.GeoRestriction.allowlist(*geo) if geo else None,
            **custom_domain,
        )
        resource = self.distribution.node.default_child
        # Only where CloudFront can deliver the logs: a stack in an opt-in Region deploys
        # without them instead of failing or losing them silently.
        logging = {"Bucket": options.log_bucket.bucket_regional_domain_name, "Prefix": options.log_prefix}
        where_delivered = Fn.condition_if(cloudfront_logs_delivered(self).logical_id, logging, Aws.NO_VALUE)
        resource.add_property_override("DistributionConfig.Logging", where_delivered)
        # fmt: off
        for rule, applies, reason in (
            ("AwsSolutions-CFR4", not custom_domain,
             "No custom domain is configured, so viewers get the default *.cloudfront.net certificate, "
             "for which CloudFront cannot enforce a TLSv1.2 minimum; setting domain_name and "
             "certificate_arn raises it to TLSv1.2_2021."),
            ("AwsSolutions-CFR2", not options.web_acl_arn,
             "WAF is optional (setting waf_web_acl_arn): a web ACL costs at least USD 5 a month plus "
             "rules, more than the rest of this small static site together."),
            ("AwsSolutions-CFR1", not geo,
             "The site is public worldwide by design; a country allowlist can be set with the "
             "geo_allowlist setting when the audience is known."),
        ):
            if applies:
                acknowledge(resource, rule, reason)
        # fmt: on

    def add_path(self, pattern: str, origin: cloudfront.IOrigin) -> None:
        """Fixed content under its own path: cached, with the same viewer rules."""
        cache_policy = cloudfront.CachePolicy.CACHING_OPTIMIZED
        self.distribution.add_behavior(pattern, origin, cache_policy=cache_policy, **self._viewer)

    @property
    def domain_name(self) -> str:
        return self.distribution.distribution_domain_name

"""The app synthesized with a deployment's context: templates, assembly and validation report."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Template

from settings.model import SiteSettings
from stacks.site_app import SiteStacks, add_site_stacks
from tests.cdk_context import CDK_FEATURE_FLAGS

# A deployment with every optional feature switched on, to test what they add.
PROD_CONTEXT = {
    "environment": "prod",
    "instance_type": "t3.small",
    "domain_name": "www.example.com",
    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
    "alarm_email": "ops@example.com",
    "waf_web_acl_arn": (
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/site/11111111-2222-3333-4444-555555555555"
    ),
    "geo_allowlist": "US,CA",
    "snapshot_retention_days": "14",
    "page_cache_seconds": "60",
    "tags": '{"team": "web", "cost centre": "Café 42"}',  # a key DLM alone refuses
    "detailed_monitoring": "true",
    "server_generation": "3",
    "page_title": "Café & friends: 100% off",
}


@dataclass(frozen=True)
class SynthesizedApp:
    settings: SiteSettings
    stacks: SiteStacks
    outdir: Path
    templates: dict[str, dict[str, Any]]

    def template(self, stack: cdk.Stack) -> Template:
        return Template.from_json(self.templates[stack.stack_name])

    def raw(self, stack: cdk.Stack) -> dict[str, Any]:
        return self.templates[stack.stack_name]

    @property
    def validation_report(self) -> dict[str, Any]:
        return json.loads((self.outdir / "validation-report.json").read_text())


def synthesize(context: dict[str, str], outdir: Path) -> SynthesizedApp:
    app = cdk.App(outdir=str(outdir), context={**CDK_FEATURE_FLAGS, **context})
    settings = SiteSettings.from_context(app.node.get_all_context())
    stacks = add_site_stacks(app, settings)
    assembly = app.synth()
    templates = {stack.stack_name: stack.template for stack in assembly.stacks}
    return SynthesizedApp(settings=settings, stacks=stacks, outdir=outdir, templates=templates)

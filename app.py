#!/usr/bin/env python3
"""Entry point of the CDK app: settings from context, then the site's stacks."""

import sys
from pathlib import Path

import aws_cdk as cdk

from settings.context import context_file_problem, passed_context
from settings.model import SettingsError, SiteSettings
from stacks.site_app import add_site_stacks


def main(app: cdk.App | None = None) -> int:
    """Synthesize the site; exit status 1 with one line on stderr for a bad setting."""
    app = app or cdk.App()
    try:
        # The CDK CLI runs the app in the project directory, beside the cdk.json and cdk.context.json it
        # read; the context it passed wins over jsii's copy, which has lost any null.
        if problem := context_file_problem():
            raise SettingsError(problem)
        context = {**app.node.get_all_context(), **passed_context()}
        settings = SiteSettings.from_context(context, cdk_json=Path("cdk.json"))
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    add_site_stacks(app, settings)
    try:
        app.synth()
    except RuntimeError as error:
        # The validation report was printed above; the traceback adds nothing.
        print(f"error: {str(error).splitlines()[0]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

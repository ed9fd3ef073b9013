"""Snapshots of every stack's template, asset hashes normalized.

Update them only on purpose: `make snapshot-update`, then read the diff before committing.
"""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.unit.template_queries import normalized


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack", ["content", "web_server"])
@pytest.mark.parametrize("app_name", ["dev_app", "prod_app"])
def test_template_matches_snapshot(request, app_name, stack, json_snapshot):
    app = request.getfixturevalue(app_name)
    assert normalized(app.raw(getattr(app.stacks, stack))) == json_snapshot


def test_normalization_removes_only_asset_hashes():
    template = {"a": "0" * 64 + ".zip", "b": "abc", "c": ["1" * 63]}
    assert normalized(template) == {"a": "<asset-hash>.zip", "b": "abc", "c": ["1" * 63]}

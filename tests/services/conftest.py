"""Provider fixtures: IAM over a store of its own."""

from __future__ import annotations

import pytest

from selfmaker.services.iam.directory import Directory
from selfmaker.services.iam.provider import IAMService
from selfmaker.services.identity import CredentialStore
from selfmaker.store.db import open_store
from tests.postgres import store_at


@pytest.fixture
def iam(tmp_path) -> IAMService:
    engine = open_store(store_at(tmp_path / "db.sqlite"))
    return IAMService(engine, CredentialStore(engine), Directory(engine))

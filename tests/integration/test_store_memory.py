"""The in-memory fakes pass the same contracts as the SQL stores."""

from __future__ import annotations

import pytest

from tests.contracts.api_key_store_contract import ApiKeyStoreContract
from tests.contracts.artifact_index_contract import ArtifactIndexContract
from tests.support.fakes import InMemoryApiKeyStore, InMemoryArtifactIndex


class TestInMemoryApiKeyStore(ApiKeyStoreContract):
    @pytest.fixture
    def adapter(self) -> InMemoryApiKeyStore:
        return InMemoryApiKeyStore()

    @pytest.fixture
    def unreachable(self) -> InMemoryApiKeyStore:
        store = InMemoryApiKeyStore()
        store.available = False
        return store


class TestInMemoryArtifactIndex(ArtifactIndexContract):
    @pytest.fixture
    def adapter(self) -> InMemoryArtifactIndex:
        return InMemoryArtifactIndex()

    @pytest.fixture
    def unreachable(self) -> InMemoryArtifactIndex:
        index = InMemoryArtifactIndex()
        index.available = False
        return index

"""The in-memory job store passes the same contract as the SQL stores."""

from __future__ import annotations

import pytest

from tests.contracts.job_store_contract import JobStoreContract
from tests.support.fake_jobs import InMemoryJobStore


class TestInMemoryJobStore(JobStoreContract):
    @pytest.fixture
    def adapter(self) -> InMemoryJobStore:
        return InMemoryJobStore()

    @pytest.fixture
    def unreachable(self) -> InMemoryJobStore:
        store = InMemoryJobStore()
        store.available = False
        return store

from tests.api.conftest import api, make_api  # noqa: F401 - the HTTP app fixtures, reused here

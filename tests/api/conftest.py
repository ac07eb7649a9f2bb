from __future__ import annotations

import pytest


@pytest.fixture
def api(client, auth_headers):
    """Call the API as a user: api(user).post(path, json=...)."""

    class Caller:
        def __init__(self, user):
            self.headers = auth_headers(user)

        def get(self, path, **kwargs):
            return client.get(path, headers=self.headers, **kwargs)

        def post(self, path, **kwargs):
            return client.post(path, headers=self.headers, **kwargs)

        def put(self, path, **kwargs):
            return client.put(path, headers=self.headers, **kwargs)

        def delete(self, path, **kwargs):
            return client.delete(path, headers=self.headers, **kwargs)

    return Caller

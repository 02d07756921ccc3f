"""Server connection settings, as conductor-python's ``Configuration``."""

from __future__ import annotations

import os
from typing import Optional

DEFAULT_SERVER_API_URL = "http://localhost:8080/api"


class AuthenticationSettings:
    """An application key and its secret (token auth)."""

    def __init__(self, key_id: str, key_secret: str):
        self.key_id = key_id
        self.key_secret = key_secret


class Configuration:
    """Where the server is and how to authenticate.

    ``server_api_url`` wins, then ``base_url`` + ``/api``, then ``CONDUCTOR_SERVER_URL``, then
    ``http://localhost:8080/api``. Without ``authentication_settings``, ``CONDUCTOR_AUTH_KEY``
    and ``CONDUCTOR_AUTH_SECRET`` (both set) give them.
    """

    def __init__(
        self,
        base_url: Optional[str] = None,
        debug: bool = False,
        authentication_settings: Optional[AuthenticationSettings] = None,
        server_api_url: Optional[str] = None,
        auth_token_ttl_min: int = 45,
        register_schema: Optional[bool] = None,
        log_level=None,
    ):
        if server_api_url is not None:
            self.host = server_api_url
        elif base_url is not None:
            self.host = base_url + "/api"
        else:
            self.host = os.getenv("CONDUCTOR_SERVER_URL")
        if not self.host:
            self.host = DEFAULT_SERVER_API_URL
        if authentication_settings is not None:
            self.authentication_settings = authentication_settings
        else:
            key = os.getenv("CONDUCTOR_AUTH_KEY")
            secret = os.getenv("CONDUCTOR_AUTH_SECRET")
            self.authentication_settings = (
                AuthenticationSettings(key_id=key, key_secret=secret)
                if key is not None and secret is not None
                else None
            )
        self.debug = debug
        self.auth_token_ttl_min = auth_token_ttl_min
        self.register_schema = register_schema
        self.log_level = log_level

    @property
    def server_api_url(self) -> str:
        """The server's API URL (ending in ``/api``)."""
        return self.host

"""Messages to WebSocket clients through API Gateway's management API.

The same boto3 client works against AWS and against the local gateway
(opscli/ws_gateway.py), which implements ``/@connections/{id}`` over HTTP. Locally the
requests are signed with dummy credentials: the gateway does not check them, and real
ones must never leave for it.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


class WsSender:
    def __init__(self, endpoint_url: str, region: str, *, local: bool) -> None:
        session = boto3.session.Session(region_name=region,
                                        **(LOCAL_CREDENTIALS if local else {}))
        self.endpoint_url = endpoint_url
        self.client: Any = session.client(
            "apigatewaymanagementapi", endpoint_url=endpoint_url,
            config=Config(connect_timeout=2, read_timeout=5, max_pool_connections=32,
                          retries={"max_attempts": 2, "mode": "standard"}))

    def send(self, connection_id: str, data: str) -> bool:
        """Post one message; False when the connection is gone (HTTP 410)."""
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=data.encode())
        except self.client.exceptions.GoneException:
            return False
        return True

    def close(self, connection_id: str) -> None:
        try:
            self.client.delete_connection(ConnectionId=connection_id)
        except self.client.exceptions.GoneException:
            return


SendError = (ClientError, BotoCoreError)
"""What a post to a live endpoint can raise besides a gone connection."""


@lru_cache(maxsize=8)
def sender_for(endpoint_url: str, region: str, local: bool) -> WsSender:
    """One client per endpoint and process: building a boto3 client costs milliseconds."""
    return WsSender(endpoint_url, region, local=local)

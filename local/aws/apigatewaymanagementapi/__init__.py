"""API Gateway's ``@connections`` endpoint of a WebSocket stage: PostToConnection, GetConnection, DeleteConnection."""

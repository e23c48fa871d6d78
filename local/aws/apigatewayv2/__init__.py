"""API Gateway v2: the WebSocket API of live order status, served on 127.0.0.1 with its real routes and authorizer."""

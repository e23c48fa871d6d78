"""API Gateway: the REST API emulation, its Cognito authorizer and its SigV4 check."""

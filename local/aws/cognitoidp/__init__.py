"""Cognito user pools: the local pool, its seeded users and its tokens."""

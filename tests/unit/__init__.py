"""Unit tests of the workflow core: models, repositories on moto's DynamoDB, logic, handlers, runner, engine, ASL."""

"""Side effects live here: DynamoDB repositories and the payment provider port. Logic talks to these interfaces only."""

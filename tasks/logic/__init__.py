"""Domain logic of the order workflow. It talks to adapters through their interfaces and never to boto3."""

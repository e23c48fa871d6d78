"""Pydantic models: the order itself and the input and output of every task."""

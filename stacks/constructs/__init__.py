"""The stack's building blocks, one construct per concern: data, functions, workflow, api, monitoring."""

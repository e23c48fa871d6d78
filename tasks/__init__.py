"""Lambda task code for the order workflow: handlers over domain logic and adapters."""

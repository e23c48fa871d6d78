"""Lambda entry points. Each one parses its input, calls the domain logic, and returns a typed output."""

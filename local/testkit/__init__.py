"""The test kit: the pytest plugin and its fixtures, fault injection and the order invariants."""

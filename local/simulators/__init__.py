"""What stands in for the outside world: the warehouse and the seed catalog."""

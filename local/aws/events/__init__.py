"""EventBridge: what moto's bus leaves to the service around it, delivering a rule's events to its Lambda targets."""

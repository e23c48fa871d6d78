"""The tools that serve a local stack and a deployed one alike: the orders CLI and the ops console."""

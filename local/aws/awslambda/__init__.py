"""Lambda: the in-process runner that answers every Invoke with our real handlers."""

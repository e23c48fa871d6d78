"""The local runtime: moto's Step Functions engine running the real ASL with the real handlers, in-process."""

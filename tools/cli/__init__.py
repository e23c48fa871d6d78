"""The ``orders`` command line: shoppers' and operators' commands, and ``orders up``."""

"""The ops console: a web view of the order workflow's executions, read from Step Functions and DynamoDB only.

Because it reads nothing but those two APIs (and calls the order API for actions), the same console runs against the
local stack and, with ``orders console --aws``, against a deployed stack.

- ``graph``: the state machine's ASL as nodes and edges, and an execution history as the outcome of each state;
- ``layout``: a layered layout of that graph, rendered as SVG on the server (no JavaScript libraries);
- ``service``: the reads and actions behind the console's JSON API;
- ``server``: the HTTP server (``ConsoleServer``) and the ``orders console`` entry point (``run_console``).
"""

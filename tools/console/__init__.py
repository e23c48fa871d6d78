"""The ops console: a web view of the order workflow's executions, read from Step Functions and DynamoDB only.

Because it reads nothing but those two APIs (and an Express child's CloudWatch Logs, which hold its history, and calls
the order API, as an operator, for actions), the same console runs against the local stack and, with
``orders console --aws``, against a deployed stack.

- ``graph``: the state machine's ASL as nodes and edges (a task that runs a child state machine holds the child's
  states), and an execution history as the outcome of each state;
- ``nested``: the child executions a parent's tasks ran, and their histories: GetExecutionHistory, or for an
  Express child in AWS its CloudWatch Logs log group (``local.aws.stepfunctions.execution_logs``);
- ``layout``: a layered layout of that graph, rendered as SVG on the server (no JavaScript libraries);
- ``service``: the reads and actions behind the console's JSON API, with payment and task tokens scrubbed;
- ``api_caller``: how actions reach the order API as an operator (an ops user's token, SigV4 for shipments);
- ``sessions``: the session cookie and CSRF token every action needs;
- ``server``: the WSGI app on waitress (``ConsoleServer``) and the ``orders console`` entry point (``run_console``).
"""

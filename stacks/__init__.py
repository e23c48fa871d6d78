"""The CDK app of the order service. It reads ``workflows.resources`` and the ASL file; the Lambda code never
imports it, so the functions run without CDK or node."""

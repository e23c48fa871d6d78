"""Step Functions beyond moto's engine: nested executions and the execution logs the console reads."""

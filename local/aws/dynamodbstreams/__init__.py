"""DynamoDB Streams: the event source mapping that feeds the orders stream to its Lambda."""

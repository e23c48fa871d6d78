"""The AWS endpoint (moto in server mode) and the listeners every local service is served by."""

"""The key delivery service: HLS AES keys and W3C ClearKey licenses over HTTP."""

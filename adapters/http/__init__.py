"""The JobManager and JobReader HTTP API."""

"""Adapters: storage (SQLite, PostgreSQL), the HTTP API, the CLI and settings."""

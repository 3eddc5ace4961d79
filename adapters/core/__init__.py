"""The transport-neutral core: JobManager's commands and JobReader's queries on plain values, answering with
domain results or errors. Each transport (adapters/http, ...) only parses, calls and renders."""

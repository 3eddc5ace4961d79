"""The job domain: the Job aggregate, its events, the transition table and the application service.

Nothing here touches SQL, HTTP or the environment; adapters bring those in.
"""

"""The application layer (DESIGN.md §9): each user-facing operation is one function of an actor.

The CLI, the SSH commands and the HTTP API are front-ends over it: they parse, call, render. Whether the
actor may do what it asks is decided here, from the table in `permissions`, and nowhere else.
"""

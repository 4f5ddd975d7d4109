"""The web pages (DESIGN.md §9): server-rendered templates over the application layer, on the HTTP API's port.

One module per job: `session_pages` signs in with a login link, `visitors` says who asks (session cookie
or access token), `csrf` and `forms` guard every POST, `render` escapes every value, `pages` routes a
request to its handler and a refusal to its page, and one module of routes per noun.
"""

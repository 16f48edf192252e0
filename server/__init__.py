"""`flowc serve`: the web app for reviewers, the JSON API, schedules, uploads and chat flows
(docs/serve.md). Starlette on uvicorn, Jinja2 templates, the run store as the only state."""

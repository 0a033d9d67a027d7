"""The Gradio chat demo: app, handlers, per-user state. It never imports the CLI."""

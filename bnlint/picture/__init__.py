"""`bnlint graph`: pictures of a model's fold plan (dot, mermaid, svg/png via Graphviz).

static_graph / runtime_graph build what to draw, scene decides what the picture says,
collapse folds repeated blocks, dot and mermaid spell it out, command is the CLI.
"""

"""What people touch: command-line entry points, the chat widget, the agent side."""

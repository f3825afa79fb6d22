"""Evaluation: outcomes of recorded episodes (`outcomes`), statistics (`stats`), grouped reports and paired
comparisons (`report`), figures (`charts`), and the `positronic-eval` command (`cli`)."""

"""Evaluation: statistics (`stats`), grouped reports and paired comparisons over recorded runs (`report`, reading
`runs`), figures (`charts`), the `positronic-eval` command (`cli`) and `validate-server` (`validate_server`)."""

"""Evaluation: statistics (`stats`), grouped reports and paired comparisons over recorded runs (`report`, reading
`runs`), figures (`charts`, `difference_chart`), the `positronic-eval` command (`cli`) and `validate-server`
(`validate_server`).

Comparing models on paired seeds, from `trials.Trial` rows (model, seed, success, progress) that a report builds
from recorded runs and a sweep can build from its task results: `paired` (two models: McNemar, Wilcoxon
signed-rank via `signed_rank`, paired bootstrap via `resampling`), `model_comparison` (all pairs, Holm via
`multiple_testing`, Bradley-Terry ranking via `ranking`), `comparison_text` (terminal and JSON), and `sequential`
(the anytime-valid stopping rule for `sweep --until-decided`).

`sweep` (`positronic-eval sweep`) runs the episodes themselves, one task per (model, seed), on a process pool or
Ray, and ends with that comparison.
"""

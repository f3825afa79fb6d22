"""Recorded runs as data: the model that the review server (`review`) and the reports (`evaluate`) both read.

`discovery` finds datasets under a directory, `outcomes` says what an episode's outcome is and which policy ran
it, `score_log` keeps manual scores beside the recordings, `clips` marks an episode cut from another one (never an
evaluation run), `row` turns one recorded episode into a row with its effective outcome, and `collect` reads every
row under a directory at once. Nothing here imports `review` or `evaluate`.
"""

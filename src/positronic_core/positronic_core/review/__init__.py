"""Reviewing recorded episodes in a browser: `positronic-server`.

`discovery` finds datasets under a directory, `episode_index` builds the table in the background, `score_log`
keeps manual scores in `<dataset>/scores.jsonl`, `clip_export` cuts a time range into a new episode,
`episode_view` prepares what the episode page plots, and `server` serves it all with the page in `static/`.
"""

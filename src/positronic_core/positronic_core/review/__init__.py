"""Reviewing recorded episodes in a browser: `positronic-server`.

`episode_index` builds the table in the background and `episode_watch` adds episodes recorded while it runs,
`clip_export` cuts a time range into a new episode, `episode_view` prepares what the episode page plots, `access`
decides who may use the server, and `server` serves it all with the page in `static/`. What a recorded run is
(rows, outcomes, scores) lives in `runs`, shared with the reports.
"""

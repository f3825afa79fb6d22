"""`positronic-eval sweep`: every (model, seed) episode of an evaluation as one task on a process pool or Ray.

`plan` (what runs: settings, models, tasks, results), `episode_task` (one task, in a worker process),
`placement` (an episode into `DIR/<model>/` atomically), `pools` (the local process pool and Ray), `progress`
(the bar and its ETA), `runner` (submission, resume, the stopping rule, the report) and `cli` (the flags).
"""

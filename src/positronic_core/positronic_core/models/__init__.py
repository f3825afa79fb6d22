"""Learned models and where their checkpoints live, shared by the policy server (`serve`) and local policies.

`checkpoints` finds checkpoint ids in LeRobot's training layout; `lerobot_act` loads an ACT checkpoint (LeRobot 0.4,
or 0.3.3 migrated on the way) and runs it in batches. Nothing here knows about sockets, sessions or control loops,
so both sides of the wire may import it.
"""

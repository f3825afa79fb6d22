"""Positronic inference protocol v1: msgpack frames, the numpy envelope, handshake and reply messages."""

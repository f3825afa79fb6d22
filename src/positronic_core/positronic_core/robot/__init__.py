"""The command and state surface shared by the simulator and the real arm."""

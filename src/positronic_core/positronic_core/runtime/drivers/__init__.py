"""Episode drivers: who decides when an episode starts and stops."""

"""The control loop, chunk scheduling, episode drivers and the bridge to the recorder."""

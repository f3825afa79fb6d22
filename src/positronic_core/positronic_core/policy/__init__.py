"""Policies the control loop can drive: remote (wire client), local ACT, scripted expert."""

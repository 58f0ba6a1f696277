"""Unattended operation: the scheduler daemon, its worker processes, and the status command."""

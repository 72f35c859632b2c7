"""Monitoring: the prediction log, labels, and windows compared with the reference."""

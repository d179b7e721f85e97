"""The congvan exchange service."""

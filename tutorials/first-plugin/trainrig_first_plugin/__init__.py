"""trainrig tutorial plugin: see plugin.py."""

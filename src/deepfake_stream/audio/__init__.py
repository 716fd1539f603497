"""The voice branch (cloned and synthetic speech): audio decoded to 16 kHz mono, speech found,
windows scored. Built in steps (issue #24): decoding first."""

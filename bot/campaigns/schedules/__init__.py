"""Schedule files.

YAML written by volunteers, read with line numbers into PostSpecs and pledge campaign specs.
"""

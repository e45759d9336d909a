#!/usr/bin/python3
"""Writes a translation unit that includes one header and nothing else."""
import os
import sys

header, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    f.write('#include "%s"\n' % os.path.abspath(header))

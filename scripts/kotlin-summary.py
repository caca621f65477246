"""Prints how many Kotlin tests ran and failed, from Maven's surefire reports (mvn -q prints nothing)."""

import pathlib
import re
import sys

runs = [re.search(r'tests="(\d+)".*?failures="(\d+)"', p.read_text()) for p in pathlib.Path(sys.argv[1]).glob("TEST-*.xml")]
print(f"Kotlin (mvn -q test): {sum(int(m[1]) for m in runs if m)} tests, {sum(int(m[2]) for m in runs if m)} failures")

"""Seeds each fuzz target's corpus with the messages of tests/vectors (header values and JSON) and with the
inputs in fuzz/regressions that once made a target fail."""

import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
corpus = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "fuzz" / "corpus"
seeds: list[str] = []


def walk(value):
    if isinstance(value, str) and len(value) > 8:
        seeds.append(value)
    elif isinstance(value, dict):
        if value:
            seeds.append(json.dumps(value, separators=(",", ":"), ensure_ascii=False))
        for v in value.values():
            walk(v)
    elif isinstance(value, list):
        for v in value:
            walk(v)


for f in sorted((ROOT / "tests" / "vectors").glob("*.json")):
    walk(json.loads(f.read_text()))
targets = ["header", "payment_required", "payment_payload", "facilitator_messages", "verify",
           "money_and_networks", "credentials", "decode_any"]
for target in targets:
    d = corpus / target
    d.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(dict.fromkeys(seeds)):
        (d / f"vector-{i:04d}").write_text(s)
    # Inputs that once failed, kept so every run tries them again.
    for old in sorted((ROOT / "fuzz" / "regressions" / target).glob("*")):
        (d / f"regression-{old.name}").write_bytes(old.read_bytes())
print(f"seeded {len(targets)} corpora with {len(dict.fromkeys(seeds))} inputs each")

#!/usr/bin/env python3
"""`streamview contracts check OLD NEW` from outside: exit 0 for a BACKWARD compatible change,
1 with each incompatible change and its path, 2 for a file that is missing or not a schema.

    python3 tests/system/contracts_check.py --binary build/src/cli/streamview
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile


def fail(msg):
    print("FAILED: " + msg)
    raise SystemExit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sv-contracts-")
    v1 = {"type": "object", "required": ["id"],
          "properties": {"id": {"type": "string"}, "qty": {"type": "integer", "minimum": 0}}}
    v2_required = json.loads(json.dumps(v1))
    v2_required["required"].append("currency")  # old events lack it: incompatible
    v2_narrower = json.loads(json.dumps(v1))
    v2_narrower["properties"]["qty"]["minimum"] = 1  # qty 0 was accepted: incompatible
    v2_looser = json.loads(json.dumps(v1))
    del v2_looser["properties"]["qty"]["minimum"]  # every old qty still passes: compatible
    # A constrained property added to an open content model: old events may carry it with any
    # value, so the registry's rule calls it incompatible.
    v2_optional = json.loads(json.dumps(v1))
    v2_optional["properties"]["note"] = {"type": "string"}
    files = {}
    for name, schema in [("v1", v1), ("required", v2_required), ("narrower", v2_narrower),
                         ("looser", v2_looser), ("optional", v2_optional)]:
        files[name] = os.path.join(tmp, name + ".json")
        with open(files[name], "w") as f:
            json.dump(schema, f)
    files["broken"] = os.path.join(tmp, "broken.json")
    with open(files["broken"], "w") as f:
        f.write('{"type": ')

    def check(old, new):
        r = subprocess.run([args.binary, "contracts", "check", old, new], capture_output=True,
                           text=True, timeout=120)
        return r.returncode, r.stdout + r.stderr

    cases = [
        ("v1", "looser", 0, None),
        ("looser", "v1", 1, "/qty"),
        ("v1", "optional", 1, "/note"),
        ("v1", "required", 1, "currency"),
        ("v1", "narrower", 1, "/qty"),
        ("required", "v1", 0, None),  # dropping a requirement reads every old event
        ("v1", "broken", 2, "broken.json"),
        ("v1", os.path.join(tmp, "missing.json"), 2, "missing.json"),
    ]
    for old, new, code, says in cases:
        got, out = check(files.get(old, old), files.get(new, new))
        if got != code:
            fail("check %s -> %s: exit %d, expected %d: %s" % (old, new, got, code, out))
        if says is not None and says not in out:
            fail("check %s -> %s does not name %r: %s" % (old, new, says, out))
        print("  %s -> %s: exit %d%s" % (os.path.basename(old), os.path.basename(new), got,
                                         (": " + out.strip().splitlines()[-1][:100]) if got else ""))
    shutil.rmtree(tmp, ignore_errors=True)
    print("PASS")


if __name__ == "__main__":
    main()

"""Decide which members of the transformers wheel to drop. Prints the drop list to stdout."""

import re
import sys
import zipfile

KEEP_MODELS = set(sys.argv[2].split(","))
z = zipfile.ZipFile(sys.argv[1])
names = [i.filename for i in z.infolist()]
nameset = set(names)


def model_of(n):
    p = n.split("/")
    return p[2] if len(p) >= 4 and p[1] == "models" else None


def always_ok(n):  # kept for every model
    fn = n.rsplit("/", 1)[-1]
    if len(n.split("/")) != 4:  # files in a sub-package of a model folder
        return False
    return fn == "__init__.py" or fn.startswith(("configuration_", "tokenization_"))


keep = set()
for n in names:
    m = model_of(n)
    fn = n.rsplit("/", 1)[-1]
    if m is None:
        keep.add(n)
        continue
    if fn.startswith(("modular_", "convert_")):
        continue
    if m in KEEP_MODELS or always_ok(n):
        keep.add(n)
# closure over imports into other model folders
imp = re.compile(r"^\s*from\s+(\.+|transformers\.)([\w\.]*)\s+import", re.M)
changed = True
while changed:
    changed = False
    for n in list(keep):
        if not n.endswith(".py") or (model_of(n) and n.endswith("/__init__.py")):
            continue
        src = z.read(n).decode("utf-8", "replace")
        pkg = n[:-3].split("/")[:-1]  # package path parts of this module
        for dots, mod in imp.findall(src):
            if dots == "transformers.":
                parts = ["transformers"] + mod.split(".")
            else:
                base = pkg[: len(pkg) - (len(dots) - 1)]
                parts = base + (mod.split(".") if mod else [])
            if len(parts) >= 3 and parts[1] == "models":
                for cand in ("/".join(parts) + ".py", "/".join(parts) + "/__init__.py"):
                    if cand in nameset and cand not in keep:
                        keep.add(cand)
                        changed = True
                        print("closure:", n, "->", cand, file=sys.stderr)
drop = [n for n in names if n not in keep and not n.endswith("RECORD")]
print("\n".join(drop))
print(f"keep {len(keep)} drop {len(drop)}", file=sys.stderr)

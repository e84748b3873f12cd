#!/usr/bin/python3
"""The man pages render cleanly and cannot drift from the code.

Usage: man_test.py NUDGECTL MAN_DIR SCHEMA

- each page renders with `man -l` under `groff -ww` (every warning on) without a
  single warning;
- every nudgectl command and option that `nudgectl --help` lists appears in
  nudgectl(1);
- every top-level policy key appears in nudge.yaml(5). The keys come from the JSON
  Schema, whose keys schema_keys_test holds equal to the parser's.
"""
import json
import os
import re
import subprocess
import sys

nudgectl, man_dir, schema_path = sys.argv[1:4]
PAGES = ["nudged.8", "nudgectl.1", "nudge.yaml.5"]
failures = []


def render(page):
    env = dict(os.environ, MANROFFOPT="-ww", MANWIDTH="80", LC_ALL="C.UTF-8")
    r = subprocess.run(["man", "-l", os.path.join(man_dir, page)], env=env,
                       capture_output=True, text=True)
    if r.returncode != 0:
        failures.append(f"{page}: man -l exited {r.returncode}: {r.stderr.strip()}")
    if r.stderr.strip():
        failures.append(f"{page}: warnings while rendering:\n{r.stderr.rstrip()}")
    # man hyphenates at line ends and uses U+2010/U+2212 for hyphens and minus.
    text = r.stdout.replace("\u2010", "-").replace("\u2212", "-")
    text = re.sub(r"-\n\s*", "-", text)       # a word hyphenated across lines
    return re.sub(r"\s+", " ", text)           # and words split across lines


texts = {p: render(p) for p in PAGES}
for p, t in texts.items():
    if len(t) < 500:
        failures.append(f"{p}: rendered to only {len(t)} characters")

# nudgectl --help: "commands:" then two-space-indented lines "  WORD [word|word] ARGS".
helptext = subprocess.run([nudgectl, "--help"], capture_output=True, text=True, check=True).stdout
commands, options = set(), set()
section = None
for line in helptext.splitlines():
    if line.endswith(":") and not line.startswith(" "):
        section = line[:-1]
        continue
    if section == "commands" and re.match(r"^  \S", line):
        # Each "A, B" part of the line is one command form: leading lowercase words,
        # where "add|remove" gives one command per alternative.
        synopsis = re.split(r"\s{2,}", line.strip())[0]  # the description follows after 2+ spaces
        for form in synopsis.split(", "):
            words = []
            for w in form.split():
                if not re.fullmatch(r"[a-z|]+", w):
                    break
                words.append(w.split("|"))
            if not words:
                continue
            heads = [[]]
            for alts in words:
                heads = [h + [a] for h in heads for a in alts]
            commands.update(" ".join(h) for h in heads)
    options.update(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", line))

if len(commands) < 8:
    failures.append(f"found only {len(commands)} commands in nudgectl --help: {sorted(commands)}")
for c in sorted(commands):
    if c not in texts["nudgectl.1"]:
        failures.append(f"nudgectl(1) does not mention the command '{c}'")
for o in sorted(options):
    if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", texts["nudgectl.1"]):
        failures.append(f"nudgectl(1) does not mention the option '{o}'")

with open(schema_path) as f:
    top_keys = sorted(json.load(f)["properties"])
if len(top_keys) < 10:
    failures.append(f"the schema lists only {len(top_keys)} top-level keys")
for k in top_keys:
    if not re.search(r"(?<![\w.])" + re.escape(k) + r"(?![\w])", texts["nudge.yaml.5"]):
        failures.append(f"nudge.yaml(5) does not mention the top-level key '{k}'")

print(f"pages: {', '.join(PAGES)} rendered without warnings" if not any("warnings" in f for f in failures) else "")
print(f"nudgectl --help: {len(commands)} commands ({', '.join(sorted(commands))}), "
      f"{len(options)} options ({', '.join(sorted(options))})")
print(f"policy top-level keys: {len(top_keys)} ({', '.join(top_keys)})")
if failures:
    print("FAILED:\n" + "\n".join(failures))
    sys.exit(1)
print("OK")

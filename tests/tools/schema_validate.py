#!/usr/bin/python3
"""Every policy the parser accepts validates against the JSON Schema.

Usage: schema_validate.py SCHEMA NUDGED NUDGE_TESTS FILE_OR_DIR...

The policies: each FILE (or *.yaml, *.yaml.example in each DIR), plus every policy
text the unit tests get accepted by the parser, collected by running NUDGE_TESTS with
NUDGE_POLICY_CORPUS set (tests/test_main.cpp). A file counts as accepted when
`nudged --check --config FILE` exits 0. Each accepted policy must validate (Debian's
python3-jsonschema, draft 2020-12); a rejected one is listed and not checked.

YAML is read the way the parser (yaml-cpp) and yaml-language-server read it, YAML 1.2
core schema: `yes`, `on` and `21:00` stay strings.
"""
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML is YAML 1.1; this resolves plain scalars by the YAML 1.2 core schema."""


Yaml12Loader.yaml_implicit_resolvers = {}
for tag, pattern, first in [
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    ("tag:yaml.org,2002:float",
     r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
     "-+0123456789."),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
]:
    Yaml12Loader.add_implicit_resolver(tag, re.compile(pattern), list(first))


def construct_int(loader, node):
    v = loader.construct_scalar(node)
    return int(v, 8) if v.startswith("0o") else int(v, 0) if v.startswith("0x") else int(v)


Yaml12Loader.add_constructor("tag:yaml.org,2002:int", construct_int)


def main():
    schema_path, nudged, nudge_tests = sys.argv[1:4]
    with open(schema_path) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)

    # Each default the schema documents is a valid value of its key.
    failures, defaults = [], 0
    def walk(node, path):
        nonlocal defaults
        if isinstance(node, dict):
            for k, v in node.get("properties", {}).items():
                if isinstance(v, dict) and "default" in v:
                    defaults += 1
                    sub = {k2: v2 for k2, v2 in v.items() if k2 != "default"}
                    v_ = jsonschema.Draft202012Validator({**sub, "$defs": schema["$defs"]})
                    for e in v_.iter_errors(v["default"]):
                        failures.append(f"the schema's default for {path}{k} is not valid: {e.message}")
            for k, v in node.items():
                if k != "properties":
                    walk(v, path)
            for k, v in node.get("properties", {}).items():
                walk(v, f"{path}{k}.")
        elif isinstance(node, list):
            for v in node:
                walk(v, path)
    walk(schema, "")

    files = []
    for arg in sys.argv[4:]:
        if os.path.isdir(arg):
            files += sorted(glob.glob(os.path.join(arg, "*.yaml")) + glob.glob(os.path.join(arg, "*.yaml.example")))
        else:
            files.append(arg)

    checked, rejected = 0, []
    for path in files:
        r = subprocess.run([nudged, "--check", "--config", path], capture_output=True, text=True)
        if r.returncode != 0:
            rejected.append(path)
            continue
        failures += validate(validator, path)
        failures += schema_line(path, schema_path)
        checked += 1
    shipped = checked

    with tempfile.TemporaryDirectory() as corpus:
        env = dict(os.environ, NUDGE_POLICY_CORPUS=corpus)
        r = subprocess.run([nudge_tests], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{nudge_tests} failed while collecting policies:\n{r.stdout[-3000:]}")
        texts = sorted(glob.glob(os.path.join(corpus, "*.yaml")))
        for path in texts:
            failures += validate(validator, path, show_text=True)
            checked += 1

    print(f"schema defaults that are valid values: {defaults}")
    print(f"shipped policies accepted by nudged --check and validated: {shipped} "
          f"({', '.join(os.path.relpath(f) for f in files if f not in rejected)})")
    if rejected:
        print(f"refused by nudged --check, not checked: {', '.join(rejected)}")
    print(f"policies the unit tests got accepted, validated: {len(texts)}")
    if len(texts) < 20:
        failures.append(f"only {len(texts)} policies collected from the unit tests")
    if failures:
        print(f"FAILED ({len(failures)}):\n" + "\n\n".join(failures))
        sys.exit(1)
    print(f"OK: {checked} policies valid against {os.path.basename(schema_path)}")


def schema_line(path, schema_path):
    """A shipped policy starts with yaml-language-server's modeline naming this schema."""
    with open(path) as f:
        first = f.readline()
    m = re.match(r"^# yaml-language-server: \$schema=(\S+)$", first)
    if not m:
        return [f"{path}: the first line is not '# yaml-language-server: $schema=...' but {first!r}"]
    target = os.path.join(os.path.dirname(path), m.group(1))
    if not os.path.exists(target) or not os.path.samefile(target, schema_path):
        return [f"{path}: $schema={m.group(1)} does not lead to {schema_path}"]
    return []


def validate(validator, path, show_text=False):
    with open(path) as f:
        text = f.read()
    try:
        doc = yaml.load(text, Loader=Yaml12Loader)
    except yaml.YAMLError as e:
        return [f"{path}: not YAML to PyYAML: {e}"]
    out = []
    for e in sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        out.append(f"{path}: at {where}: {e.message}" + (f"\n--- policy:\n{text}" if show_text else ""))
    return out


main()

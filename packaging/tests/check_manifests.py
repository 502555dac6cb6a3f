#!/usr/bin/env python3
"""packaging/tests/check_manifests.py BIN_DIR — the deployment files agree with the programs.

ctest: packaging_manifests (label packaging). Checks, printing one line each:
  1. every packaging/kubernetes/*.yaml parses; each object has apiVersion, kind, a name and the
     namespace rgpu (but the Namespace); workload selectors match their pod labels; every volume
     a container mounts is declared; every rgpu image a manifest names has a Dockerfile.
  2. every rgpu-server / rgpu-pool flag that a unit, an example settings file, a Dockerfile or a
     manifest passes appears in that program's --help (BIN_DIR/rgpu-server --help, ...), so a
     renamed or missing flag breaks this test rather than a provider's machine.
Exit 0 when all hold, 1 otherwise, 77 (skipped) without PyYAML.
"""
import pathlib
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("skip: PyYAML is not installed")
    sys.exit(77)

HERE = pathlib.Path(__file__).resolve().parent.parent  # packaging/
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]*)")
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def help_flags(bin_dir, prog):
    out = subprocess.run([str(bin_dir / prog), "--help"], capture_output=True, text=True,
                         timeout=20)
    if out.returncode != 0:
        fail(f"{prog} --help exited {out.returncode}")
    return set(FLAG.findall(out.stdout + out.stderr)) | {"--help"}


def check_flags(where, prog, flags, known):
    missing = sorted(set(flags) - known)
    if missing:
        fail(f"{where} passes {prog} flags its --help does not list: {' '.join(missing)}")
    else:
        print(f"ok: {where}: {prog} {' '.join(sorted(set(flags)))}")


def manifests():
    docs = {}
    for path in sorted((HERE / "kubernetes").glob("*.yaml")):
        try:
            docs[path.name] = [d for d in yaml.safe_load_all(path.read_text()) if d]
        except yaml.YAMLError as e:
            fail(f"{path.name} does not parse: {e}")
    return docs


def pod_spec(obj):
    kind = obj["kind"]
    if kind in ("Deployment", "DaemonSet", "StatefulSet", "Job"):
        return obj["spec"]["template"]["spec"]
    return None


def check_objects(docs):
    dockerfiles = {p.name for p in (HERE / "docker").glob("Dockerfile.*")}
    for name, objs in docs.items():
        for o in objs:
            what = f"{name}: {o.get('kind')}/{o.get('metadata', {}).get('name')}"
            if not (o.get("apiVersion") and o.get("kind") and o.get("metadata", {}).get("name")):
                fail(f"{what} lacks apiVersion, kind or metadata.name")
                continue
            if o["kind"] != "Namespace" and o["metadata"].get("namespace") != "rgpu":
                fail(f"{what} is not in namespace rgpu")
            if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
                sel = o["spec"]["selector"]["matchLabels"]
                labels = o["spec"]["template"]["metadata"].get("labels", {})
                if any(labels.get(k) != v for k, v in sel.items()):
                    fail(f"{what}: selector {sel} does not match pod labels {labels}")
            spec = pod_spec(o)
            if spec is None:
                continue
            volumes = {v["name"] for v in spec.get("volumes", [])}
            for c in spec.get("initContainers", []) + spec["containers"]:
                for m in c.get("volumeMounts", []):
                    if m["name"] not in volumes:
                        fail(f"{what}: container {c['name']} mounts undeclared volume {m['name']}")
                image = c["image"].split(":")[0]
                if image.startswith("rgpu-"):
                    want = "Dockerfile." + image[len("rgpu-"):]
                    if want not in dockerfiles:
                        fail(f"{what}: image {c['image']} has no packaging/docker/{want}")
            print(f"ok: {what}")


def container_flags(docs, image_prefix):
    """(where, flags) for each container running image_prefix."""
    for name, objs in docs.items():
        for o in objs:
            spec = pod_spec(o)
            if spec is None:
                continue
            for c in spec["containers"]:
                if c["image"].startswith(image_prefix + ":"):
                    args = [a for a in c.get("args", []) + c.get("command", [])]
                    yield f"{name} {c['name']}", [a for a in args if FLAG.fullmatch(a)]


def unit_flags(unit, prog):
    text = (HERE / "systemd" / unit).read_text()
    flags = []
    for line in text.splitlines():
        if line.startswith("ExecStart=") and prog in line:
            flags += FLAG.findall(line.split(prog, 1)[1])
    return flags


def settings_flags(name):
    """Flags in an example settings file: the *_ARGS= values and the '#   --flag' list."""
    flags = []
    for line in (HERE / "config" / name).read_text().splitlines():
        if re.match(r"#\s+--", line) or re.match(r"RGPU_\w+_ARGS=", line):
            flags += FLAG.findall(line)
    return flags


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    bin_dir = pathlib.Path(sys.argv[1])
    docs = manifests()
    check_objects(docs)

    server = help_flags(bin_dir, "rgpu-server")
    pool = help_flags(bin_dir, "rgpu-pool")
    check_flags("systemd/rgpu-server.service", "rgpu-server",
                unit_flags("rgpu-server.service", "/usr/bin/rgpu-server"), server)
    check_flags("systemd/rgpu-pool.service", "rgpu-pool",
                unit_flags("rgpu-pool.service", "/usr/bin/rgpu-pool"), pool)
    check_flags("config/server.env", "rgpu-server", settings_flags("server.env"), server)
    check_flags("config/rgpu-pool.default", "rgpu-pool", settings_flags("rgpu-pool.default"), pool)
    for dockerfile, prog, known in (("Dockerfile.server", "rgpu-server", server),
                                    ("Dockerfile.pool", "rgpu-pool", pool)):
        text = (HERE / "docker" / dockerfile).read_text()
        # Flags in the entrypoint and in the `docker run ... IMAGE --flag` examples.
        flags = []
        for line in text.splitlines():
            if line.startswith("ENTRYPOINT"):
                flags += FLAG.findall(line)
            m = re.search(re.escape(prog) + r":[\w.]+ (.*)", line)
            if m:
                flags += FLAG.findall(m.group(1))
        check_flags(f"docker/{dockerfile}", prog, flags, known)
    for where, flags in container_flags(docs, "rgpu-server"):
        check_flags(f"kubernetes/{where}", "rgpu-server", flags, server)
    for where, flags in container_flags(docs, "rgpu-pool"):
        check_flags(f"kubernetes/{where}", "rgpu-pool", flags, pool)

    if failures:
        print(f"{len(failures)} check(s) failed")
        return 1
    print("all manifest checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""The hardening state audit-hardening.yml checks, read on the host in one run.

One round trip instead of a module call per file, stat and command (over an
IAP SSH tunnel, each of those is a round trip of its own).

argv[1] is a JSON object: compilers, units, files, modes and sysctl_keys
(lists) and live (true on a running host). Prints one JSON object:
  sshd, compilers, units, suid, world_writable, node: {rc, stdout, stderr}
  text: {path: content}, "" for a file that cannot be read
  stat: {path: {exists, mode, isdir}}, from lstat as the stat module does
  live (running hosts only): sysctl, nft ({rc, stdout, stderr}), mounts (the
    findmnt line of /tmp and of /dev/shm) and apparmor (the kernel's flag)
Exits 1 when a find fails (its list would be partial), 0 otherwise.
"""

import json
import os
import stat
import subprocess
import sys


def run(argv):
    try:
        done = subprocess.run(argv, capture_output=True, text=True, errors="replace", check=False)
    except OSError as error:
        return {"rc": 127, "stdout": "", "stderr": str(error)}
    # Trailing newlines stripped, as the command module does.
    return {"rc": done.returncode, "stdout": done.stdout.rstrip("\r\n"), "stderr": done.stderr.rstrip("\r\n")}


def read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""


def mode(path):
    try:
        info = os.lstat(path)
    except OSError:
        return {"exists": False}
    return {"exists": True, "mode": "%04o" % stat.S_IMODE(info.st_mode), "isdir": stat.S_ISDIR(info.st_mode)}


def main():
    args = json.loads(sys.argv[1])
    probe = 'for b in "$@"; do command -v "$b" || true; done'
    state = {
        "sshd": run(["/usr/sbin/sshd", "-T", "-C", "user=nobody,host=localhost,addr=127.0.0.1"]),
        "compilers": run(["sh", "-c", probe, "sh"] + args["compilers"]),
        "units": run(["systemctl", "is-enabled"] + args["units"]),
        "suid": run(["find", "/", "-xdev", "-type", "f", "-perm", "/6000", "-print"]),
        "world_writable": run(
            ["find", "/etc", "/usr", "/opt", "/var/lib", "-xdev", "-type", "f", "-perm", "-0002", "-print"]
        ),
        "node": run(["/usr/bin/node", "--version"]),
        "text": {path: read(path) for path in args["files"]},
        "stat": {path: mode(path) for path in args["modes"]},
    }
    if str(args["live"]).lower() == "true":
        findmnt = ["findmnt", "--noheadings", "--output", "TARGET,OPTIONS", "--target"]
        state["live"] = {
            "sysctl": run(["sysctl", "--"] + args["sysctl_keys"]),
            "nft": run(["nft", "list", "chain", "inet", "filter", "input"]),
            "mounts": [run(findmnt + [target])["stdout"] for target in ("/tmp", "/dev/shm")],
            "apparmor": read("/sys/module/apparmor/parameters/enabled"),
        }
    print(json.dumps(state))
    return 1 if state["suid"]["rc"] or state["world_writable"]["rc"] else 0


sys.exit(main())

#!/usr/bin/python3
"""The host state an audit topic checks, read on the host in one run.

One round trip per topic instead of a module call per file, stat, command
and probe (over an IAP SSH tunnel, each of those is a round trip of its
own). audit-service.yml and audit-hardening.yml run it with the `command`
module: python3 -c <this file> TOPIC ARGS, where ARGS is a JSON object.
Prints one JSON object; exits 1 when a command whose output a check lists
failed (the list would be partial), 0 otherwise. Command results are
{rc, stdout, stderr}, trailing newlines stripped as the command module
does; unreadable files read as "".

service, ARGS: service, unit, dropin_dirs, app_dir, app_user, config_dir,
ops_agent_config, live (true on a running host), env_file and app_url.
  unit_text; scrape_targets (the host:port targets the Ops Agent's
    Prometheus receiver scrapes, each rendered as `- "127.0.0.1:PORT"`);
  dropins (the *.conf files in dropin_dirs); enabled, verify, security,
    loose_files, groups, node (commands); user (the passwd fields after the
    name, or null); config_dir (as stat below);
  live (running hosts only): show, root_procs, tcp, udp (commands),
    env_file (as config_dir), health (/healthz, /readyz, /metrics on
    app_url) and metrics (each scrape target's /metrics, then the port
    after the last target's, where no worker should answer), each
    [{url, status, content}] (metrics: and target), status -1 when nothing
    answered. Partial: find, systemctl show, pgrep beyond "none", ss.

hardening, ARGS: compilers, units, files, modes, sysctl_keys (lists) and
live.
  sshd, compilers, units, suid, world_writable, node (commands);
  text ({path: content}); stat ({path: {exists, mode, isdir, pw_name,
    gr_name}}, from lstat as the stat module does);
  live (running hosts only): sysctl, nft (commands), mounts (the findmnt
    line of /tmp and of /dev/shm) and apparmor (the kernel's flag).
    Partial: either find.
"""

import glob
import grp
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request


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


def inspect(path):
    """exists, mode, isdir, pw_name, gr_name of path, from lstat as the stat module does."""
    try:
        info = os.lstat(path)
    except OSError:
        return {"exists": False}

    def name(lookup, ident):
        try:
            return lookup(ident)[0]
        except KeyError:
            return str(ident)

    return {
        "exists": True,
        "mode": "%04o" % stat.S_IMODE(info.st_mode),
        "isdir": stat.S_ISDIR(info.st_mode),
        "pw_name": name(pwd.getpwuid, info.st_uid),
        "gr_name": name(grp.getgrgid, info.st_gid),
    }


def running(args):
    # Ansible renders the boolean as True or true, depending on templating.
    return str(args["live"]).lower() == "true"


def probe(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return {"url": url, "status": response.status, "content": response.read().decode("utf-8", "replace")}
    except urllib.error.HTTPError as error:
        return {"url": url, "status": error.code, "content": error.read().decode("utf-8", "replace")}
    except (OSError, ValueError) as error:
        return {"url": url, "status": -1, "content": "", "error": str(error)}


def service(args):
    app_dir = args["app_dir"]
    getent = run(["getent", "passwd", args["app_user"]])
    state = {
        "unit_text": read(args["unit"]),
        "dropins": sorted(
            path
            for directory in args["dropin_dirs"]
            for path in glob.glob(os.path.join(glob.escape(directory), "*.conf"))
            if os.path.isfile(path)
        ),
        "enabled": run(["systemctl", "is-enabled", args["service"] + ".service"]),
        "verify": run(["systemd-analyze", "verify", args["unit"]]),
        "security": run(["systemd-analyze", "security", "--offline=true", "--no-pager", args["unit"]]),
        "loose_files": run(
            ["find", app_dir, "(", "!", "-user", "root", "-o", "!", "-group", "root", "-o",
             "(", "-perm", "/022", "!", "-type", "l", ")", ")", "-print"]
        ),
        "user": getent["stdout"].strip().split(":")[1:] if getent["rc"] == 0 else None,
        "groups": run(["id", "-nG", args["app_user"]]),
        "config_dir": inspect(args["config_dir"]),
        "node": run(["/usr/bin/node", "--version"]),
        "scrape_targets": re.findall(r'(?m)^\s+- "([0-9.]+:[0-9]+)"$', read(args["ops_agent_config"])),
    }
    partial = state["loose_files"]["rc"] != 0
    if running(args):
        targets = state["scrape_targets"]
        after = int((targets[-1] if targets else "127.0.0.1:9463").split(":")[-1]) + 1
        live = {
            "show": run(["systemctl", "show", args["service"] + ".service",
                         "--property=ActiveState,SubState,MainPID,NRestarts,User"]),
            "root_procs": run(["pgrep", "-u", "root", "-f", app_dir + "/"]),
            "env_file": inspect(args["env_file"]),
            "health": [probe(args["app_url"] + path) for path in ("/healthz", "/readyz", "/metrics")],
            "metrics": [
                dict(probe(f"http://{target}/metrics"), target=target) for target in targets + [f"127.0.0.1:{after}"]
            ],
            "tcp": run(["ss", "-H", "-l", "-n", "--tcp"]),
            "udp": run(["ss", "-H", "-l", "-n", "--udp"]),
        }
        state["live"] = live
        partial = (partial or live["show"]["rc"] != 0 or live["root_procs"]["rc"] not in (0, 1)
                   or live["tcp"]["rc"] != 0 or live["udp"]["rc"] != 0)
    return state, partial


def hardening(args):
    which = 'for b in "$@"; do command -v "$b" || true; done'
    state = {
        "sshd": run(["/usr/sbin/sshd", "-T", "-C", "user=nobody,host=localhost,addr=127.0.0.1"]),
        "compilers": run(["sh", "-c", which, "sh"] + args["compilers"]),
        "units": run(["systemctl", "is-enabled"] + args["units"]),
        "suid": run(["find", "/", "-xdev", "-type", "f", "-perm", "/6000", "-print"]),
        "world_writable": run(
            ["find", "/etc", "/usr", "/opt", "/var/lib", "-xdev", "-type", "f", "-perm", "-0002", "-print"]
        ),
        "node": run(["/usr/bin/node", "--version"]),
        "text": {path: read(path) for path in args["files"]},
        "stat": {path: inspect(path) for path in args["modes"]},
    }
    if running(args):
        findmnt = ["findmnt", "--noheadings", "--output", "TARGET,OPTIONS", "--target"]
        state["live"] = {
            "sysctl": run(["sysctl", "--"] + args["sysctl_keys"]),
            "nft": run(["nft", "list", "chain", "inet", "filter", "input"]),
            "mounts": [run(findmnt + [target])["stdout"] for target in ("/tmp", "/dev/shm")],
            "apparmor": read("/sys/module/apparmor/parameters/enabled"),
        }
    return state, bool(state["suid"]["rc"] or state["world_writable"]["rc"])


def main():
    topic, args = sys.argv[1], json.loads(sys.argv[2])
    state, partial = {"service": service, "hardening": hardening}[topic](args)
    print(json.dumps(state))
    return 1 if partial else 0


sys.exit(main())

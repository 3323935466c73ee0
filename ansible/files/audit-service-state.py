#!/usr/bin/python3
"""The app and service state audit-service.yml checks, read on the host in one run.

One round trip instead of a module call per file, command and probe (over an
IAP SSH tunnel, each of those is a round trip of its own).

argv[1] is a JSON object: service, unit, dropin_dirs, app_dir, app_user,
config_dir, ops_agent_config, live (true on a running host), env_file and
app_url. Prints one JSON object:
  unit_text: the unit file, "" when unreadable
  scrape_targets: the host:port targets the Ops Agent's Prometheus receiver
    scrapes (each rendered as `- "127.0.0.1:PORT"`)
  dropins: the *.conf files in dropin_dirs
  enabled, verify, security, loose_files, groups, node: {rc, stdout, stderr}
  user: the passwd fields after the name (getent), or null
  config_dir: {exists, pw_name, gr_name, mode}
  live (running hosts only): show, root_procs, tcp, udp ({rc, stdout,
    stderr}), env_file ({exists, pw_name, gr_name, mode}), health
    (/healthz, /readyz, /metrics on app_url) and metrics (each scrape
    target's /metrics, then the port after the last target's, where no
    worker should answer): [{url, status, content}] (metrics: and target),
    status -1 when nothing answered
Exits 1 when a command whose output a check lists fails (find, pgrep beyond
"none", ss): the list would be partial. 0 otherwise.
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


def owner(path):
    try:
        info = os.stat(path)
    except OSError:
        return {"exists": False}

    def name(lookup, ident):
        try:
            return lookup(ident)[0]
        except KeyError:
            return str(ident)

    return {
        "exists": True,
        "pw_name": name(pwd.getpwuid, info.st_uid),
        "gr_name": name(grp.getgrgid, info.st_gid),
        "mode": "%04o" % stat.S_IMODE(info.st_mode),
    }


def probe(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return {"url": url, "status": response.status, "content": response.read().decode("utf-8", "replace")}
    except urllib.error.HTTPError as error:
        return {"url": url, "status": error.code, "content": error.read().decode("utf-8", "replace")}
    except (OSError, ValueError) as error:
        return {"url": url, "status": -1, "content": "", "error": str(error)}


def main():
    args = json.loads(sys.argv[1])
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
        "config_dir": owner(args["config_dir"]),
        "node": run(["/usr/bin/node", "--version"]),
        "scrape_targets": re.findall(r'(?m)^\s+- "([0-9.]+:[0-9]+)"$', read(args["ops_agent_config"])),
    }
    partial = state["loose_files"]["rc"] != 0
    if str(args["live"]).lower() == "true":
        targets = state["scrape_targets"]
        after = int((targets[-1] if targets else "127.0.0.1:9463").split(":")[-1]) + 1
        live = {
            "show": run(["systemctl", "show", args["service"] + ".service",
                         "--property=ActiveState,SubState,MainPID,NRestarts,User"]),
            "root_procs": run(["pgrep", "-u", "root", "-f", app_dir + "/"]),
            "env_file": owner(args["env_file"]),
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
    print(json.dumps(state))
    return 1 if partial else 0


sys.exit(main())

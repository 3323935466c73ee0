// What a GCE VM has beside the image itself, as a read-only overlay layer
// above each baked tree: the guest environment's startup and shutdown script
// units (the same unit settings as google-guest-agent's, running a small
// metadata script runner), the address the VPC's DHCP would give (a oneshot
// unit reading /etc/twin/network.env), and the twin CA in the trust store (a
// VM trusts Google's roots; a twin instance trusts the twin's Secret
// Manager). The baked tree itself is never written to.

import fs from 'node:fs/promises';
import path from 'node:path';
import { TWIN_STATE_DIR } from './image.js';

export const GUEST_DIR = path.join(TWIN_STATE_DIR, 'guest');

/** Shell function shared by the two stand-ins: reads one instance attribute. */
const METADATA_FETCH = `# A VM's network may not be up when this runs: "no answer" (no connection,
# or a 5xx) is waited for, up to TWIN_METADATA_WAIT_S seconds, and then fails
# the unit loudly; only a 404 means the attribute is absent. Treating a
# connection error as "absent" once booted an instance without its settings.
md=\${TWIN_METADATA_URL:-http://metadata.google.internal/computeMetadata/v1/instance/attributes}
metadata() { # attribute file -> 0 found, 1 absent (404), 2 no answer in time
  local status=000 deadline=$((SECONDS + \${TWIN_METADATA_WAIT_S:-120}))
  while ((SECONDS < deadline)); do
    status=$(curl -sS -o "$2" -w '%{http_code}' --connect-timeout 2 --max-time 10 \\
      -H 'Metadata-Flavor: Google' "$md/$1" 2>/dev/null) || true
    [[ $status == 000 || $status == 5?? ]] || break
    sleep 1
  done
  case $status in
    200) return 0 ;;
    404) return 1 ;;
    *)
      echo "metadata server did not answer for $1 (last HTTP status $status)" >&2
      return 2
      ;;
  esac
}
`;

export const RUNNER = `#!/bin/bash
# Twin stand-in for /usr/bin/google_metadata_script_runner: fetch the
# startup-script or shutdown-script attribute and run it, output to the journal.
set -uo pipefail
kind=\${1:?usage: google_metadata_script_runner startup|shutdown}
${METADATA_FETCH}script=$(mktemp /run/metadata-script.XXXXXX)
trap 'rm -f "$script"' EXIT
metadata "$kind-script" "$script"
case $? in
  1)
    echo "google_metadata_script_runner: no $kind-script in metadata"
    exit 0
    ;;
  2) exit 1 ;;
esac
echo "google_metadata_script_runner: starting $kind script"
bash "$script"
code=$?
echo "google_metadata_script_runner: $kind script finished with exit status $code"
exit 0
`;

const AGENT = `#!/bin/bash
# Twin stand-in for google-guest-agent's first-boot work: fresh SSH host keys
# (the sealed image has none), and the account named in the ssh-keys
# attribute ("user:key"), in the sudo group as the agent's google-sudoers.
set -uo pipefail
ssh-keygen -A
${METADATA_FETCH}keys_file=$(mktemp /run/ssh-keys.XXXXXX)
trap 'rm -f "$keys_file"' EXIT
metadata ssh-keys "$keys_file"
case $? in
  1) exit 0 ;;
  2) exit 1 ;;
esac
keys=$(<"$keys_file")
while IFS= read -r line; do
  user=\${line%%:*}
  key=\${line#*:}
  [[ $user =~ ^[a-z][a-z0-9_-]{0,31}$ && -n $key ]] || continue
  id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/bash "$user"
  install -d -m 0700 -o "$user" -g "$user" "/home/$user/.ssh"
  printf '%s\n' "$key" >"/home/$user/.ssh/authorized_keys"
  chown "$user:$user" "/home/$user/.ssh/authorized_keys"
  chmod 0600 "/home/$user/.ssh/authorized_keys"
  printf '%s ALL=(ALL:ALL) NOPASSWD:ALL\n' "$user" >/etc/sudoers.d/google_sudoers
  chmod 0440 /etc/sudoers.d/google_sudoers
done <<<"$keys"
`;

const AGENT_UNIT = `[Unit]
Description=Google Guest Agent (twin stand-in: host keys, ssh-keys accounts)
Wants=network-online.target
After=network-online.target
Before=ssh.service

[Service]
Type=oneshot
RemainAfterExit=true
ExecStart=/usr/bin/google_guest_agent_twin

[Install]
WantedBy=multi-user.target
`;

const STARTUP_UNIT = `[Unit]
Description=Google Compute Engine Startup Scripts (twin stand-in)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/bin/google_metadata_script_runner startup
KillMode=process

[Install]
WantedBy=multi-user.target
`;

const SHUTDOWN_UNIT = `[Unit]
Description=Google Compute Engine Shutdown Scripts (twin stand-in)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/bin/true
RemainAfterExit=true
ExecStop=/usr/bin/google_metadata_script_runner shutdown
TimeoutStopSec=0
KillMode=process

[Install]
WantedBy=multi-user.target
`;

const NETWORK_UNIT = `[Unit]
Description=Twin VPC address (stands in for the VPC's DHCP)
DefaultDependencies=no
Before=network-online.target network.target
Wants=network.target

[Service]
Type=oneshot
RemainAfterExit=true
EnvironmentFile=/etc/twin/network.env
ExecStart=/usr/sbin/ip link set lo up
ExecStart=/usr/sbin/ip link set host0 up
ExecStart=/usr/sbin/ip addr replace \${ADDRESS} dev host0
ExecStart=/usr/sbin/ip route replace 169.254.169.254/32 dev host0 scope link

[Install]
WantedBy=network-online.target
`;

async function write(file: string, text: string, mode = 0o644): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, text, { mode });
  await fs.chmod(file, mode);
}

async function enable(layer: string, unit: string, target: string): Promise<void> {
  const dir = path.join(layer, 'etc/systemd/system', `${target}.wants`);
  await fs.mkdir(dir, { recursive: true });
  await fs.rm(path.join(dir, unit), { force: true });
  await fs.symlink(`/etc/systemd/system/${unit}`, path.join(dir, unit));
}

/** The guest layer for one baked tree (rebuilt each time: it is small). */
export async function ensureGuestLayer(version: string, imageRoot: string, caPem: string): Promise<string> {
  const layer = path.join(GUEST_DIR, version);
  await fs.rm(layer, { recursive: true, force: true });
  await write(path.join(layer, 'usr/bin/google_metadata_script_runner'), RUNNER, 0o755);
  await write(path.join(layer, 'usr/bin/google_guest_agent_twin'), AGENT, 0o755);
  await write(path.join(layer, 'etc/systemd/system/google-guest-agent.service'), AGENT_UNIT);
  await enable(layer, 'google-guest-agent.service', 'multi-user.target');
  await write(path.join(layer, 'etc/systemd/system/google-startup-scripts.service'), STARTUP_UNIT);
  await write(path.join(layer, 'etc/systemd/system/google-shutdown-scripts.service'), SHUTDOWN_UNIT);
  await write(path.join(layer, 'etc/systemd/system/twin-network.service'), NETWORK_UNIT);
  await enable(layer, 'google-startup-scripts.service', 'multi-user.target');
  await enable(layer, 'google-shutdown-scripts.service', 'multi-user.target');
  await enable(layer, 'twin-network.service', 'network-online.target');
  const bundle = await fs.readFile(path.join(imageRoot, 'etc/ssl/certs/ca-certificates.crt'), 'utf8');
  await write(path.join(layer, 'etc/ssl/certs/ca-certificates.crt'), `${bundle.trimEnd()}\n${caPem}`);
  return layer;
}

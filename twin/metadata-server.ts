// The twin's stand-in for the two Google endpoints a VM's startup script
// talks to, so terraform/scripts/startup.sh runs unmodified:
//   - the metadata server on 169.254.169.254:80 (metadata.google.internal):
//     /computeMetadata/v1/instance/attributes/<key> answers each instance
//     (told apart by its source address) with the keys
//     terraform/instance-metadata.ts produces, plus hostname/zone/image and a
//     service-account token; the Metadata-Flavor: Google header is required,
//     as on GCE;
//   - Secret Manager's `versions/latest:access` on GOOGLE_APIS_IP:443 (TLS
//     with a certificate from the twin's CA, which the instances trust),
//     answering the database password to any bearer token the metadata
//     server handed out.
// Run inside the ctwin namespace: `tsx twin/metadata-server.ts STATE_FILE`.
// STATE_FILE (JSON, re-read on every request) maps instance IPs to their
// attributes, so the MIG controller adds instances without a restart.

import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';

interface MetadataState {
  readonly tls: { readonly key: string; readonly cert: string };
  readonly secrets: Readonly<Record<string, string>>;
  readonly instances: Readonly<
    Record<string, { name: string; zone: string; image: string; attributes: Record<string, string> }>
  >;
}

const stateFile = process.argv[2];
const metadataIp = process.argv[3] ?? '169.254.169.254';
const apisIp = process.argv[4] ?? '10.89.0.2';
if (stateFile === undefined) {
  console.error('usage: metadata-server.ts STATE_FILE [METADATA_IP] [APIS_IP]');
  process.exit(2);
}

const TOKEN = 'twin-access-token';

function readState(): MetadataState {
  return JSON.parse(fs.readFileSync(stateFile as string, 'utf8')) as MetadataState;
}

function send(res: http.ServerResponse, status: number, body: string, type = 'application/text'): void {
  res.writeHead(status, { 'Content-Type': type, 'Metadata-Flavor': 'Google' });
  res.end(body);
}

const metadata = http.createServer((req, res) => {
  const ip = (req.socket.remoteAddress ?? '').replace(/^::ffff:/, '');
  if (req.headers['metadata-flavor'] !== 'Google') return send(res, 403, 'Missing Metadata-Flavor:Google header.');
  const instance = readState().instances[ip];
  if (instance === undefined) return send(res, 404, `no instance at ${ip}`);
  const url = new URL(req.url ?? '/', 'http://metadata.google.internal');
  const prefix = '/computeMetadata/v1/';
  if (!url.pathname.startsWith(prefix)) return send(res, 404, 'not found');
  const key = url.pathname.slice(prefix.length);
  const attribute = /^instance\/attributes\/(.+)$/.exec(key)?.[1];
  if (attribute !== undefined) {
    const value = instance.attributes[attribute];
    return value === undefined ? send(res, 404, 'not found') : send(res, 200, value);
  }
  switch (key) {
    case 'instance/hostname':
    case 'instance/name':
      return send(res, 200, instance.name);
    case 'instance/zone':
      return send(res, 200, `projects/0/zones/${instance.zone}`);
    case 'instance/image':
      return send(res, 200, instance.image);
    case 'instance/network-interfaces/0/ip':
      return send(res, 200, ip);
    case 'instance/service-accounts/default/token':
      return send(
        res,
        200,
        JSON.stringify({ access_token: TOKEN, expires_in: 3599, token_type: 'Bearer' }),
        'application/json',
      );
    default:
      return send(res, 404, 'not found');
  }
});

function startApis(): https.Server {
  const { tls } = readState();
  return https.createServer({ key: tls.key, cert: tls.cert, minVersion: 'TLSv1.2' }, (req, res) => {
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, { error: { code: 401 } });
    const match = /^\/v1\/(projects\/[^/]+\/secrets\/[^/]+)\/versions\/latest:access$/.exec(req.url ?? '');
    const secret = match?.[1] === undefined ? undefined : readState().secrets[match[1]];
    if (match === null || secret === undefined) return json(404, { error: { code: 404, status: 'NOT_FOUND' } });
    return json(200, {
      name: `${match[1]}/versions/1`,
      payload: { data: Buffer.from(secret).toString('base64') },
    });
  });
}

metadata.listen(80, metadataIp, () => {
  const apis = startApis();
  apis.listen(443, apisIp, () => console.log(`metadata on ${metadataIp}:80, secret manager on ${apisIp}:443`));
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => process.exit(0));

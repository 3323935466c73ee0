// A stand-in for the two Google endpoints the gcp_compute inventory plugin
// calls (OAuth token refresh, Compute Engine aggregated instances), reached
// the way the real ones are: the plugin's requests session honours
// HTTPS_PROXY, so this is an HTTP CONNECT proxy on loopback that terminates
// TLS itself with a throwaway CA-less certificate for *.googleapis.com, which
// REQUESTS_CA_BUNDLE makes the plugin trust. Nothing in the plugin is
// patched; every request it makes is recorded for the assertions.

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface StubInstance {
  readonly name: string;
  readonly zone: string;
  readonly id?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly template?: string;
}

export interface RecordedRequest {
  readonly host: string;
  readonly method: string;
  /** Path without the query string, percent-decoded. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
}

export interface GceStubOptions {
  readonly project: string;
  readonly instances: readonly StubInstance[];
  /** Status of the instances call (e.g. 403 for a project the caller cannot read). */
  readonly status?: number;
}

function instanceJson(project: string, instance: StubInstance, index: number): Record<string, unknown> {
  const base = `https://www.googleapis.com/compute/v1/projects/${project}`;
  return {
    kind: 'compute#instance',
    id: instance.id ?? String(4_000_000_000_000_000_000n + BigInt(index)),
    name: instance.name,
    status: 'RUNNING',
    zone: `${base}/zones/${instance.zone}`,
    machineType: `${base}/zones/${instance.zone}/machineTypes/n2d-standard-2`,
    selfLink: `${base}/zones/${instance.zone}/instances/${instance.name}`,
    ...(instance.labels === undefined ? {} : { labels: instance.labels }),
    networkInterfaces: [
      {
        network: `${base}/global/networks/counter-prod-vpc`,
        subnetwork: `${base}/regions/${instance.zone.replace(/-[a-z]$/, '')}/subnetworks/counter-prod`,
        networkIP: `10.10.0.${10 + index}`,
      },
    ],
    disks: [{ boot: true, source: `${base}/zones/${instance.zone}/disks/${instance.name}` }],
    metadata: {
      items: [
        { key: 'enable-oslogin', value: 'TRUE' },
        ...(instance.template === undefined
          ? []
          : [{ key: 'instance-template', value: `projects/123/global/instanceTemplates/${instance.template}` }]),
      ],
    },
  };
}

export class GceStub {
  readonly requests: RecordedRequest[] = [];

  private constructor(
    private readonly options: GceStubOptions,
    private readonly dir: string,
    private readonly proxy: http.Server,
    private readonly tls: https.Server,
  ) {}

  /** Starts the proxy on 127.0.0.1 (an ephemeral port) with a fresh certificate. */
  static async start(options: GceStubOptions): Promise<GceStub> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gce-stub-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=googleapis.com',
        '-addext',
        'subjectAltName=DNS:www.googleapis.com,DNS:oauth2.googleapis.com,DNS:compute.googleapis.com',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-keyout',
        path.join(dir, 'key.pem'),
        '-out',
        path.join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore', timeout: 20_000 },
    );
    const tls = https.createServer({
      key: readFileSync(path.join(dir, 'key.pem')),
      cert: readFileSync(path.join(dir, 'cert.pem')),
    });
    const proxy = http.createServer((_req, res) => res.writeHead(405).end('CONNECT only'));
    const stub = new GceStub(options, dir, proxy, tls);
    tls.on('request', (req, res) => stub.answer(req, res));
    proxy.on('connect', (_req, socket) => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      tls.emit('connection', socket);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    return stub;
  }

  get port(): number {
    return (this.proxy.address() as AddressInfo).port;
  }

  /** Environment for ansible-inventory/ansible-playbook: proxy, trust, application default credentials. */
  env(): NodeJS.ProcessEnv {
    const credentials = path.join(this.dir, 'adc.json');
    writeFileSync(
      credentials,
      JSON.stringify({ type: 'authorized_user', client_id: 'stub', client_secret: 'stub', refresh_token: 'stub' }),
    );
    const proxy = `http://127.0.0.1:${this.port}`;
    return {
      HTTPS_PROXY: proxy,
      https_proxy: proxy,
      NO_PROXY: '',
      no_proxy: '',
      REQUESTS_CA_BUNDLE: path.join(this.dir, 'cert.pem'),
      GOOGLE_APPLICATION_CREDENTIALS: credentials,
      GOOGLE_CLOUD_PROJECT: '',
      CLOUDSDK_CONFIG: path.join(this.dir, 'gcloud'),
    };
  }

  private answer(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', `https://${req.headers.host ?? 'unknown'}`);
    this.requests.push({
      host: url.hostname,
      method: req.method ?? '',
      path: decodeURIComponent(url.pathname),
      query: Object.fromEntries(url.searchParams),
    });
    req.resume();
    const json = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.hostname === 'oauth2.googleapis.com' && url.pathname === '/token')
      return json(200, { access_token: 'stub-token', expires_in: 3600, token_type: 'Bearer' });
    const match = /^\/compute\/v1\/projects\/([^/]+)\/aggregated\/instances$/.exec(decodeURIComponent(url.pathname));
    if (match === null) return json(404, { error: { code: 404, message: 'not stubbed' } });
    if (match[1] !== this.options.project)
      return json(404, { error: { code: 404, message: `The resource 'projects/${match[1]}' was not found` } });
    if (this.options.status !== undefined && this.options.status !== 200)
      return json(this.options.status, {
        error: {
          code: this.options.status,
          errors: [{ reason: 'forbidden', message: 'Required compute.instances.list' }],
        },
      });
    const items: Record<string, unknown> = {};
    this.options.instances.forEach((instance, index) => {
      const zone = `zones/${instance.zone}`;
      const list = (items[zone] as { instances: unknown[] } | undefined) ?? { instances: [] };
      list.instances.push(instanceJson(this.options.project, instance, index));
      items[zone] = list;
    });
    return json(200, { kind: 'compute#instanceAggregatedList', items });
  }

  async stop(): Promise<void> {
    this.proxy.closeAllConnections();
    this.tls.closeAllConnections();
    await Promise.all([
      new Promise<void>((resolve) => this.proxy.close(() => resolve())),
      new Promise<void>((resolve) => this.tls.close(() => resolve())),
    ]);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

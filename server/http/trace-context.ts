// Links each request's log lines to its Cloud Trace trace. Google's load
// balancer sends `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=OPTIONS` (a
// 32-hex trace id, a decimal span id, o=1 when sampled); Cloud Logging reads
// `logging.googleapis.com/trace` as `projects/<project>/traces/<id>`, and
// `logging.googleapis.com/spanId` as 16 hex digits. Without a project
// (GOOGLE_CLOUD_PROJECT) there is no full trace name, so nothing is added.

const HEADER = /^([0-9a-f]{32})(?:\/(\d{1,20}))?(?:;o=([0-9]+))?$/i;
const MAX_SPAN = 2n ** 64n - 1n;

export type TraceFields = Readonly<Record<string, string | boolean>>;

export function traceFields(header: string | undefined, project: string | undefined): TraceFields {
  if (header === undefined || project === undefined) return {};
  const match = HEADER.exec(header.trim());
  const traceId = match?.[1]?.toLowerCase();
  if (match === null || traceId === undefined || /^0+$/.test(traceId)) return {};
  const fields: Record<string, string | boolean> = {
    'logging.googleapis.com/trace': `projects/${project}/traces/${traceId}`,
  };
  const span = match[2] === undefined ? undefined : BigInt(match[2]);
  if (span !== undefined && span > 0n && span <= MAX_SPAN) {
    fields['logging.googleapis.com/spanId'] = span.toString(16).padStart(16, '0');
  }
  if (match[3] !== undefined) fields['logging.googleapis.com/trace_sampled'] = (Number(match[3]) & 1) === 1;
  return fields;
}

// What the Ops Agent makes of a journal entry, for the processors the image's
// config uses, with the semantics of the agent's confgenerator sources
// (GoogleCloudPlatform/ops-agent, confgenerator/): the systemd_journald
// receiver maps PRIORITY to severity; parse_json merges the parsed object
// into jsonPayload, overwriting (upsert) and taking the timestamp from
// time_key; modify_fields reads every source first, then unsets move_from
// sources and assigns (a missing source unsets the destination);
// exclude_logs drops an entry when any filter matches. The filter subset:
// NOT, OR, parentheses, `field = "v"` and `field != "v"`. No network, no
// agent: the tests feed it entries shaped like `journalctl -o json` output.

export interface LogEntry {
  severity?: string;
  timestamp?: string;
  jsonPayload: Record<string, unknown>;
  httpRequest?: Record<string, unknown>;
}

interface Processor {
  readonly type: string;
  readonly field?: string;
  readonly time_key?: string;
  readonly time_format?: string;
  readonly match_any?: readonly string[];
  readonly fields?: Readonly<Record<string, { readonly move_from?: string; readonly copy_from?: string } | null>>;
}

export interface LoggingConfig {
  readonly receivers: Readonly<Record<string, { readonly type: string; readonly include_paths?: readonly string[] }>>;
  readonly processors: Readonly<Record<string, Processor>>;
  readonly service: {
    readonly pipelines: Readonly<
      Record<string, { readonly receivers: readonly string[]; readonly processors?: readonly string[] }>
    >;
  };
}

const PRIORITY: Readonly<Record<string, string>> = {
  '0': 'EMERGENCY',
  '1': 'ALERT',
  '2': 'CRITICAL',
  '3': 'ERROR',
  '4': 'WARNING',
  '5': 'NOTICE',
  '6': 'INFO',
  '7': 'DEBUG',
};

function get(entry: LogEntry, field: string): unknown {
  const [root, ...rest] = field.split('.');
  let value: unknown = (entry as unknown as Record<string, unknown>)[root ?? ''];
  for (const key of rest) value = (value as Record<string, unknown> | undefined)?.[key];
  return value;
}

function set(entry: LogEntry, field: string, value: unknown): void {
  const parts = field.split('.');
  const last = parts.pop() ?? '';
  let target = entry as unknown as Record<string, unknown>;
  for (const key of parts) {
    if (typeof target[key] !== 'object' || target[key] === null) target[key] = {};
    target = target[key] as Record<string, unknown>;
  }
  if (value === undefined) delete target[last];
  else target[last] = value;
}

/** Evaluates the filter subset on an entry. */
export function matches(filter: string, entry: LogEntry): boolean {
  const tokens = filter.match(/\(|\)|"(?:[^"\\]|\\.)*"|!=|=|[^\s()=!"]+/g) ?? [];
  let at = 0;
  const peek = () => tokens[at];
  const next = () => tokens[at++] ?? '';
  const term = (): boolean => {
    if (peek() === 'NOT') {
      next();
      return !term();
    }
    if (peek() === '(') {
      next();
      const value = expression();
      if (next() !== ')') throw new Error(`unbalanced parentheses in ${filter}`);
      return value;
    }
    const field = next();
    const op = next();
    const literal = JSON.parse(next()) as string;
    const actual = get(entry, field);
    if (op === '=') return actual === literal;
    if (op === '!=') return actual !== literal;
    throw new Error(`unsupported operator ${op} in ${filter}`);
  };
  const expression = (): boolean => {
    let value = term();
    while (peek() === 'OR' || peek() === 'AND') {
      const op = next();
      const right = term();
      value = op === 'OR' ? value || right : value && right;
    }
    return value;
  };
  const value = expression();
  if (at !== tokens.length) throw new Error(`trailing tokens in ${filter}`);
  return value;
}

/** The systemd_journald receiver: the journal fields become jsonPayload, PRIORITY the severity. */
export function fromJournal(fields: Readonly<Record<string, string>>): LogEntry {
  const severity = PRIORITY[fields.PRIORITY ?? ''];
  return { ...(severity === undefined ? {} : { severity }), jsonPayload: { ...fields } };
}

function apply(processor: Processor, entry: LogEntry): LogEntry | undefined {
  switch (processor.type) {
    case 'exclude_logs':
      return (processor.match_any ?? []).some((f) => matches(f, entry)) ? undefined : entry;
    case 'parse_json': {
      const field = `jsonPayload.${processor.field ?? 'message'}`;
      const raw = get(entry, field);
      let parsed: unknown;
      try {
        parsed = typeof raw === 'string' ? JSON.parse(raw) : undefined;
      } catch {
        parsed = undefined;
      }
      if (typeof parsed !== 'object' || parsed === null) return entry;
      set(entry, field, undefined);
      Object.assign(entry.jsonPayload, parsed);
      if (processor.time_key !== undefined) {
        const time = entry.jsonPayload[processor.time_key];
        if (typeof time === 'string' && !Number.isNaN(Date.parse(time))) {
          entry.timestamp = new Date(time).toISOString();
          delete entry.jsonPayload[processor.time_key];
        }
      }
      return entry;
    }
    case 'modify_fields': {
      const fields = Object.entries(processor.fields ?? {}).sort(([a], [b]) => a.localeCompare(b));
      const sources = new Map<string, unknown>();
      for (const [dest, spec] of fields) {
        const from = spec?.move_from ?? spec?.copy_from ?? dest;
        sources.set(dest, structuredClone(get(entry, from)));
      }
      for (const [, spec] of fields) if (spec?.move_from !== undefined) set(entry, spec.move_from, undefined);
      for (const [dest] of fields) set(entry, dest, sources.get(dest));
      return entry;
    }
    default:
      throw new Error(`processor type ${processor.type} is not emulated`);
  }
}

/** Runs journal entries through one pipeline; returns what reaches Cloud Logging. */
export function runPipeline(config: LoggingConfig, pipeline: string, entries: readonly LogEntry[]): LogEntry[] {
  const spec = config.service.pipelines[pipeline];
  if (spec === undefined) throw new Error(`no pipeline ${pipeline}`);
  const out: LogEntry[] = [];
  for (const original of entries) {
    let entry: LogEntry | undefined = structuredClone(original);
    for (const name of spec.processors ?? []) {
      const processor = config.processors[name];
      if (processor === undefined) throw new Error(`pipeline ${pipeline} names undefined processor ${name}`);
      entry = apply(processor, entry);
      if (entry === undefined) break;
    }
    if (entry !== undefined) out.push(entry);
  }
  return out;
}

// The docs are claims a reader follows: every relative link must land on a
// file (and heading) that exists, every repository path quoted in code must
// exist, every `npm run` script named must be in package.json, and every
// table of measured figures must name the committed result file it came from
// (or say it is an estimate). Runs in `npm test`, so a rename that strands a
// link fails CI.

import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = fileURLToPath(new URL('../../', import.meta.url));

function markdownFiles(): string[] {
  const files = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(repo, dir))) {
      const relative = path.join(dir, entry);
      if (statSync(path.join(repo, relative)).isDirectory()) walk(relative);
      else if (entry.endsWith('.md')) files.push(relative);
    }
  };
  walk('docs');
  return files;
}

/** GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/`/g, '')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchors(file: string): Set<string> {
  const text = readFileSync(path.join(repo, file), 'utf8').replace(/```[\s\S]*?```/g, '');
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const match of text.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    const base = slug(match[1] ?? '');
    const count = seen.get(base) ?? 0;
    result.add(count === 0 ? base : `${base}-${count}`);
    seen.set(base, count + 1);
  }
  return result;
}

/** The text outside fenced code blocks, with each line's number kept. */
function proseLines(file: string): { line: number; text: string }[] {
  const lines = readFileSync(path.join(repo, file), 'utf8').split('\n');
  const out: { line: number; text: string }[] = [];
  let fenced = false;
  lines.forEach((text, index) => {
    if (/^\s*```/.test(text)) fenced = !fenced;
    else if (!fenced) out.push({ line: index + 1, text });
  });
  return out;
}

const files = markdownFiles();

test('docs: every relative link points at a file and heading that exist', (t) => {
  const broken: string[] = [];
  for (const file of files) {
    for (const { line, text } of proseLines(file)) {
      for (const match of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = match[1] ?? '';
        if (/^[a-z]+:/i.test(target)) continue;
        const [where = '', anchor] = target.split('#');
        const resolved = where === '' ? file : path.normalize(path.join(path.dirname(file), where));
        if (!existsSync(path.join(repo, resolved))) {
          broken.push(`${file}:${line}: ${target} (no such file)`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) {
          broken.push(`${file}:${line}: ${target} (no such heading)`);
        }
      }
    }
  }
  t.deepEqual(broken, [], broken.join('\n'));
  t.true(files.length > 5, 'the docs were found');
});

/** Paths that runs create (results, manifests, local variable files) are gitignored; they need not exist. */
function ignoredByGit(relative: string): boolean {
  try {
    execFileSync('git', ['check-ignore', '-q', '--no-index', relative], { cwd: repo, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('docs: every repository path quoted in code exists', (t) => {
  const roots = 'server|terraform|images|ansible|bench|test|docs|twin|scripts|\\.ci';
  const pattern = new RegExp(`^(?:${roots})/[\\w./-]+$`);
  const missing: string[] = [];
  for (const file of files) {
    for (const { line, text } of proseLines(file)) {
      for (const match of text.matchAll(/`([^`\s]+)`/g)) {
        const quoted = (match[1] ?? '').replace(/[:#].*$/, '').replace(/\/$/, '');
        if (!pattern.test(quoted) || quoted.includes('*')) continue;
        if (!existsSync(path.join(repo, quoted)) && !ignoredByGit(quoted) && !ignoredByGit(`${quoted}/`))
          missing.push(`${file}:${line}: ${quoted}`);
      }
    }
  }
  t.deepEqual(missing, [], missing.join('\n'));
});

test('docs: every `npm run` script named in the docs and .ci/run exists in package.json', (t) => {
  const scripts = (JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { scripts: object }).scripts;
  const named = new Set(Object.keys(scripts));
  const unknown: string[] = [];
  for (const file of [...files, '.ci/run']) {
    const text = readFileSync(path.join(repo, file), 'utf8');
    text.split('\n').forEach((line, index) => {
      for (const match of line.matchAll(/npm run ([a-z0-9:_-]+)/g)) {
        if (!named.has(match[1] ?? '')) unknown.push(`${file}:${index + 1}: npm run ${match[1]}`);
      }
    });
  }
  t.deepEqual(unknown, [], unknown.join('\n'));
  t.true(named.has('start') && named.has('test'), 'the quick start scripts exist');
});

test('docs: every table of measured figures names its committed result file or says it is an estimate', (t) => {
  // A figure table has a header naming a measured quantity; within the three
  // lines after it, a line starting "Source:" links a committed file, or a
  // line starting "Estimate" says it is not measured.
  const measured = /\b(p50|p90|p99|p99\.9|req\/s|rps|rss|throughput|latency|ms)\b/i;
  const unsourced: string[] = [];
  for (const file of files) {
    // A report a run wrote beside its own JSON (bench summary.json, a drill's
    // <name>.json) is sourced by that file.
    const sibling = [path.join(path.dirname(file), 'summary.json'), file.replace(/\.md$/, '.json')];
    if (file.startsWith('docs/') && sibling.some((f) => existsSync(path.join(repo, f)))) continue;
    const lines = proseLines(file);
    for (let i = 0; i < lines.length; i += 1) {
      const header = lines[i];
      const rule = lines[i + 1];
      const previous = lines[i - 1];
      if (header === undefined || rule === undefined) continue;
      const startsTable = header.text.startsWith('|') && /^\|[\s:|-]+\|$/.test(rule.text.trim());
      if (!startsTable || (previous !== undefined && previous.text.startsWith('|'))) continue;
      if (!measured.test(header.text)) continue;
      let end = i + 2;
      while (lines[end]?.text.startsWith('|')) end += 1;
      const after = lines.slice(end, end + 4).map((l) => l.text);
      const source = after.find((text) => /^Source:/.test(text));
      const estimate = after.some((text) => /^Estimate/.test(text));
      if (estimate) continue;
      const link = source && /\]\(([^)\s#]+)/.exec(source)?.[1];
      if (!link || !existsSync(path.join(repo, path.dirname(file), link))) {
        unsourced.push(`${file}:${header.line}: ${header.text.slice(0, 70)}`);
      }
    }
  }
  t.deepEqual(unsourced, [], unsourced.join('\n'));
});

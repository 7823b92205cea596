// A small schema language for the broker's options: one description of every key (its type,
// range, default and meaning) that validates the library options, the config file and the CLI
// flags alike, and from which docs/configuration.md is written. Plain data, no dependency: the
// shapes are few and the error messages must name the key and what was expected.

export type Spec =
  | IntegerSpec
  | { type: 'boolean'; doc: string; default?: boolean; defaultText?: string }
  | { type: 'string'; doc: string; default?: string; defaultText?: string; nonEmpty?: boolean }
  | { type: 'enum'; doc: string; values: readonly string[]; default?: string; defaultText?: string }
  | { type: 'list'; doc: string; item: Spec; defaultText?: string; check?: (value: unknown[]) => string | undefined }
  | ObjectSpec;

export interface IntegerSpec {
  type: 'integer';
  doc: string;
  min: number;
  max: number;
  default?: number;
  defaultText?: string;
  unit?: string;
}

export interface ObjectSpec {
  type: 'object';
  doc: string;
  fields: Record<string, Spec>;
  required?: readonly string[];
  defaultText?: string;
  /** A rule across fields; returns what is wrong, or undefined. */
  check?: (value: Record<string, unknown>) => { key?: string; message: string } | undefined;
}

export type Path = readonly (string | number)[];

export interface SchemaIssue {
  path: Path;
  message: string;
  /** The key itself is the problem (unknown), not its value. */
  atKey?: boolean;
}

export function formatPath(path: Path): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out === '' ? part : `.${part}`;
  return out === '' ? '(top level)' : out;
}

/** Every problem with `value` against `spec`, each with the path of the offending key. */
export function validate(spec: Spec, value: unknown, path: Path = []): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  check(spec, value, path, issues);
  return issues;
}

function check(spec: Spec, value: unknown, path: Path, issues: SchemaIssue[]): void {
  const fail = (expected: string): void => {
    issues.push({ path, message: `expected ${expected}, got ${describe(value)}` });
  };
  switch (spec.type) {
    case 'integer':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < spec.min || value > spec.max) {
        fail(`an integer from ${spec.min} to ${spec.max}${spec.unit === undefined ? '' : ` (${spec.unit})`}`);
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean') fail('true or false');
      return;
    case 'string':
      if (typeof value !== 'string' || (spec.nonEmpty === true && value === '')) fail(spec.nonEmpty ? 'a non-empty string' : 'a string');
      return;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) fail(`one of ${spec.values.join(', ')}`);
      return;
    case 'list': {
      if (!Array.isArray(value)) return fail('a list');
      value.forEach((item, i) => check(spec.item, item, [...path, i], issues));
      const problem = spec.check?.(value);
      if (problem !== undefined) issues.push({ path, message: problem });
      return;
    }
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('a mapping of keys to values');
      const record = value as Record<string, unknown>;
      const before = issues.length;
      for (const [key, item] of Object.entries(record)) {
        const field = spec.fields[key];
        if (field === undefined) {
          const near = closest(key, Object.keys(spec.fields));
          issues.push({ path: [...path, key], atKey: true, message: `unknown key${near === undefined ? '' : ` (did you mean '${near}'?)`}` });
        } else if (item !== undefined) check(field, item, [...path, key], issues);
      }
      for (const key of spec.required ?? []) {
        if (record[key] === undefined) issues.push({ path: [...path, key], message: 'is required' });
      }
      if (issues.length === before && spec.check !== undefined) {
        const problem = spec.check(record);
        if (problem !== undefined) issues.push({ path: problem.key === undefined ? path : [...path, problem.key], message: problem.message });
      }
      return;
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return String(value);
}

/** The known key nearest to a misspelt one, if it is near enough to be a typo. */
function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 4)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length];
}

/** The defaults a spec declares, as plain data (objects recursively; keys without a default left out). */
export function defaultsOf(spec: ObjectSpec): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec.fields)) {
    if (field.type === 'object') out[key] = defaultsOf(field);
    else if ('default' in field && field.default !== undefined) out[key] = field.default;
  }
  return out;
}

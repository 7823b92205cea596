// The reference part of docs/configuration.md, written from BROKER_SCHEMA so that the documented
// keys and defaults are the ones the broker checks.

import { BROKER_SCHEMA } from './options-schema.js';
import type { ObjectSpec, Spec } from './schema.js';

export const DOC_BEGIN = '<!-- reference: generated from src/ops/options-schema.ts by `npm run docs:config` -->';
export const DOC_END = '<!-- end of reference -->';

export function renderConfigReference(): string {
  const sections: string[] = [];
  const top: [string, Spec][] = [];
  const nested: [string, ObjectSpec][] = [];
  for (const [key, spec] of Object.entries(BROKER_SCHEMA.fields)) {
    if (spec.type === 'object') nested.push([key, spec]);
    else if (spec.type === 'list' && spec.item.type === 'object') {
      top.push([key, spec]);
      nested.push([`${key}[]`, spec.item]);
    } else top.push([key, spec]);
  }
  sections.push(table('Top-level keys', top));
  for (const [key, spec] of nested) collect(key, spec, sections);
  return `${DOC_BEGIN}\n\n${sections.join('\n\n')}\n\n${DOC_END}`;
}

function collect(prefix: string, spec: ObjectSpec, sections: string[]): void {
  const rows: [string, Spec][] = [];
  const deeper: [string, ObjectSpec][] = [];
  for (const [key, field] of Object.entries(spec.fields)) {
    rows.push([key, field]);
    if (field.type === 'object') deeper.push([`${prefix}.${key}`, field]);
    if (field.type === 'list' && field.item.type === 'object') deeper.push([`${prefix}.${key}[]`, field.item]);
  }
  const required = spec.required === undefined || spec.required.length === 0 ? '' : ` Required: ${spec.required.map((r) => `\`${r}\``).join(', ')}.`;
  sections.push(table(`\`${prefix}\``, rows, `${spec.doc}${required}`));
  for (const [key, field] of deeper) collect(key, field, sections);
}

function table(title: string, rows: [string, Spec][], intro?: string): string {
  const lines = [`### ${title}`, ''];
  if (intro !== undefined) lines.push(intro, '');
  lines.push('| key | type | default | meaning |', '| --- | --- | --- | --- |');
  for (const [key, spec] of rows) lines.push(`| \`${key}\` | ${typeOf(spec)} | ${defaultOf(spec)} | ${spec.doc.replaceAll('|', '\\|')} |`);
  return lines.join('\n');
}

function typeOf(spec: Spec): string {
  switch (spec.type) {
    case 'integer': {
      const range = `${spec.min}–${spec.max === Number.MAX_SAFE_INTEGER ? '2^53' : spec.max}`;
      return `integer ${range}${spec.unit === undefined ? '' : ` (${spec.unit})`}`;
    }
    case 'enum': return spec.values.map((v) => `\`${v}\``).join(' \\| ');
    case 'list': return spec.item.type === 'object' ? 'list of mappings' : `list of ${spec.item.type}s`;
    case 'object': return 'mapping';
    default: return spec.type;
  }
}

function defaultOf(spec: Spec): string {
  if (spec.defaultText !== undefined) return spec.defaultText;
  if ('default' in spec && spec.default !== undefined) {
    const v = spec.default;
    if (typeof v === 'number' && v >= 1024 && v % 1024 === 0 && spec.type === 'integer' && spec.unit === 'bytes') {
      return `${v} (${humanBytes(v)})`;
    }
    return `\`${typeof v === 'string' ? JSON.stringify(v) : String(v)}\``;
  }
  return '—';
}

function humanBytes(n: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (n % size === 0) return `${n / size} ${unit}`;
  }
  return `${n} B`;
}

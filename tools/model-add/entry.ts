/**
 * Turns what was read from a model into a catalogue entry (a ModelSpec) and the text of its file.
 */
import type { ModelSpec } from '../../charts/models/types.js';
import type { InspectedModel } from './inspect.js';

export interface EntryOptions {
  /** Catalogue id; default derived from the file name. */
  readonly id?: string;
  /** What the cluster downloads (the entry's `source`): the hf: reference or URL given, or --source for a local file. */
  readonly source: string;
  /** Where a reviewer can see the model (its repository page); default the source. */
  readonly reference?: string;
}

/** `Qwen2.5-7B-Instruct-Q4_K_M-00001-of-00002.gguf` -> `qwen2.5-7b-instruct-q4_k_m` */
export function defaultId(fileName: string): string {
  return fileName
    .replace(/(-\d{5}-of-\d{5})?\.gguf$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .slice(0, 63);
}

/** `qwen2.5-7b-instruct-q4_k_m` -> `qwen2_5_7bInstructQ4KM`-style identifier, always a valid name. */
export function exportNameFor(id: string): string {
  const words = id.split(/[^a-zA-Z0-9]+/).filter(Boolean);
  const name = words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase())).join('');
  return /^[a-zA-Z_$]/.test(name) ? name : `model${name}`;
}

/** The reference page of an hf: source. */
function hubPage(source: string): string | undefined {
  const m = /^hf:\/*([^/]+)\/([^/#]+)/i.exec(source);
  return m ? `https://huggingface.co/${m[1]}/${m[2]}` : undefined;
}

export function buildEntry(model: InspectedModel, opts: EntryOptions): ModelSpec {
  const f = model.facts;
  const id = opts.id ?? defaultId(model.parts[0]!.fileName);
  const allHashed = model.parts.every((p) => p.sha256 !== undefined);
  const sha256 = allHashed ? model.parts.map((p) => p.sha256!).join(',') : undefined;
  const header = `GGUF header of ${model.headerFrom}${model.parts.length > 1 ? ` (all ${model.parts.length} parts)` : ''}`;
  const provenance: Record<string, string> = {
    'architecture, quantization, layers, embeddingLength, headCount, kvHeads, headDim, valueLength, trainedContext, vocabSize': header,
    'parameters, tensorTypes, tokenEmbedding': `tensor list of the ${header}`,
  };
  if (f.slidingWindow) provenance.slidingWindow = `${f.architecture}.attention.sliding_window(_pattern) of the ${header}`;
  if (f.experts) provenance.experts = `${f.architecture}.expert_count / expert_used_count and the *_exps tensors of the ${header}`;
  if (f.pooling !== undefined || !f.kvCache) provenance.embedding = `${f.architecture}.pooling_type of the ${header}; KV cache per llama.cpp's create_memory`;
  model.parts.forEach((p, i) => {
    provenance[`parts[${i}].bytes`] = p.bytesFrom;
    if (p.sha256From) provenance[`parts[${i}].sha256`] = p.sha256From;
  });
  if (model.repoCommit) provenance.revision = `the hub resolved the revision to commit ${model.repoCommit}`;
  const missing = model.parts.filter((p) => p.sha256 === undefined).map((p) => p.fileName);
  const embedding = f.pooling !== undefined || !f.kvCache ? { pooling: f.pooling ?? 'unspecified', kvCache: f.kvCache } : undefined;

  return {
    id,
    source: opts.source,
    ...(sha256 !== undefined ? { sha256 } : {}),
    fileBytes: model.parts.reduce((a, p) => a + p.bytes, 0),
    architecture: f.architecture,
    quantization: f.quantization,
    layers: f.layers,
    embeddingLength: f.embeddingLength,
    headCount: f.headCount,
    kvHeads: f.kvHeads,
    headDim: f.keyLength,
    ...(f.valueLength !== f.keyLength ? { valueLength: f.valueLength } : {}),
    trainedContext: f.trainedContext,
    vocabSize: f.vocabSize,
    parameters: f.parameters,
    tensorTypes: f.tensorTypes,
    ...(f.tokenEmbedding ? { tokenEmbedding: f.tokenEmbedding } : {}),
    ...(f.slidingWindow ? { slidingWindow: f.slidingWindow } : {}),
    ...(f.experts ? { experts: f.experts } : {}),
    ...(embedding ? { embedding } : {}),
    parts: model.parts.map((p) => ({ fileName: p.fileName, bytes: p.bytes, ...(p.sha256 ? { sha256: p.sha256 } : {}) })),
    header: {
      architecture: f.architecture,
      quantization: f.quantization,
      layers: f.layers,
      embeddingLength: f.embeddingLength,
      headCount: f.headCount,
      kvHeads: f.kvHeads,
      headDim: f.keyLength,
      valueLength: f.valueLength,
      trainedContext: f.trainedContext,
      vocabSize: f.vocabSize,
      parameters: f.parameters,
      fileBytes: model.parts.reduce((a, p) => a + p.bytes, 0),
    },
    integrity:
      missing.length === 0
        ? { status: 'verified' }
        : { status: 'unverified', reason: `no sha256 for ${missing.join(', ')}: the server published none; pass --sha256 to pin it` },
    provenance,
    reference: opts.reference ?? hubPage(opts.source) ?? opts.source,
  };
}

/** TypeScript source of a value: object keys unquoted when they are identifiers, numbers with separators. */
function literal(value: unknown, indent: string): string {
  if (value === null || value === undefined) return 'undefined';
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && Math.abs(value) >= 10_000 ? value.toLocaleString('en-US').replace(/,/g, '_') : String(value);
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (typeof value === 'boolean') return String(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => `${inner}${literal(v, inner)},`).join('\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  const key = (k: string): string => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : literal(k, ''));
  return `{\n${entries.map(([k, v]) => `${inner}${key(k)}: ${literal(v, inner)},`).join('\n')}\n${indent}}`;
}

/** The entry's file: a typed, reviewable constant. */
export function renderEntryFile(entry: ModelSpec, typesImport: string, command: string): string {
  const name = exportNameFor(entry.id);
  const shape = [
    `${entry.architecture}, ${entry.quantization}, ${entry.layers} layers, ${entry.headCount} query / ${entry.kvHeads} KV heads,`,
    `head width ${entry.headDim}${entry.valueLength !== undefined ? ` (value ${entry.valueLength})` : ''}, trained context ${entry.trainedContext}, ${entry.parts?.length ?? 1} part(s).`,
  ];
  return [
    `import type { ModelSpec } from '${typesImport}';`,
    '',
    '/**',
    ` * ${entry.id}: ${shape[0]}`,
    ` * ${shape[1]}`,
    ` * Written by \`${command}\` from the file itself; every figure's source is in \`provenance\`.`,
    ' */',
    `export const ${name}: ModelSpec = ${literal(entry, '')};`,
    '',
  ].join('\n');
}

/**
 * Checks a catalogue entry for wrong or impossible figures, so a mistyped hand edit fails synth
 * (naming the file, the entry and the field) instead of sizing a pod that is OOM-killed in a loop.
 */
import { GgufFileType } from 'node-llama-cpp';
import { ggmlBitsPerWeight, ggmlBlocks } from '../../service/model/ggml-types.js';
import { parseSplitName, splitPartName } from '../../service/model/split-name.js';
import type { ConfigProblem } from '../lib/config-error.js';
import { MiB } from '../sizing/units.js';
import { headerCheckedFields, type ModelPart, type ModelSpec } from './types.js';

/**
 * Every quantization name llama.cpp writes into `general.file_type` (its `llama_ftype` enum, as
 * node-llama-cpp's `GgufFileType` lists it), without the MOSTLY_/ALL_ prefix.
 */
export const knownQuantizations: ReadonlySet<string> = new Set(
  Object.keys(GgufFileType)
    .filter((k) => Number.isNaN(Number(k)))
    .map((k) => k.replace(/^(MOSTLY|ALL)_/, '')),
);

/**
 * The ggml type most tensors of a quantization mix use (llama.cpp's `llama_model_quantize_impl`
 * default type per ftype); the file's average bits per weight sits at or above that type's.
 */
export function dominantTensorType(quantization: string): string | undefined {
  const special: Record<string, string> = { IQ3_XS: 'IQ3_S', IQ3_M: 'IQ3_S', IQ2_M: 'IQ2_S', Q2_K_S: 'Q2_K', MXFP4_MOE: 'MXFP4', Q4_1_SOME_F16: 'Q4_1' };
  const base = special[quantization] ?? quantization.replace(/_(S|M|L)$/, '');
  return base in ggmlBlocks ? base : undefined;
}

/**
 * Header bytes a file may hold beyond its tensor data: metadata (a 150k-token vocabulary with merges is
 * ~10 MiB) and alignment padding. Per part, because every part of a split model has its own header.
 */
export const headerAllowanceBytes = 64 * MiB;

/** Plausible range of the average bits per weight relative to the dominant type's (embeddings and norms are kept wider). */
export const bitsPerWeightRange = { min: 0.9, max: 1.7 } as const;

const sha256Pattern = /^[0-9a-f]{64}$/;

function isPositiveInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n > 0;
}

/** The files of a model: its declared parts, or the one file its source names. */
export function modelParts(model: ModelSpec): readonly ModelPart[] {
  if (model.parts && model.parts.length > 0) return model.parts;
  const fileName = model.source.split('#')[0]!.split('/').pop()!.split('?')[0]!;
  return [{ fileName, bytes: model.fileBytes, ...(model.sha256 ? { sha256: model.sha256 } : {}) }];
}

/** Average bits per weight: from the header's tensor types, else file size over the parameter count. */
export function averageBitsPerWeight(model: ModelSpec): number | undefined {
  if (model.tensorTypes) {
    let elements = 0;
    let bytes = 0;
    for (const t of Object.values(model.tensorTypes)) {
      elements += t.elements;
      bytes += t.bytes;
    }
    return elements > 0 ? (bytes * 8) / elements : undefined;
  }
  return model.parameters ? (model.fileBytes * 8) / model.parameters : undefined;
}

/** True when synth should warn that the entry's sizes or sha256 are not verified. */
export function isUnverified(model: ModelSpec): boolean {
  if (model.integrity) return model.integrity.status === 'unverified';
  return modelParts(model).some((p) => p.sha256 === undefined);
}

/** Every problem of one entry; `file` is where it is defined (named in each problem). */
export function validateModelSpec(model: ModelSpec, file: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const object = `model ${model.id || '(no id)'}`;
  const problem = (field: string, text: string, fix: string): void => {
    problems.push({ file, object, field, problem: text, fix });
  };
  const rerun = 'run `npm run model:add` on the file to read it from the header';

  if (!/^[a-z0-9]([-a-z0-9._]{0,61}[a-z0-9])?$/.test(model.id))
    problem('id', `"${model.id}" is not a lower-case label of at most 63 characters`, 'use lower-case letters, digits, dots and dashes');
  if (!/^(hf:|https?:\/\/)\S+\.gguf(#\S+)?$/i.test(model.source))
    problem(
      'source',
      `"${model.source}" is not an hf: reference or http(s) URL to a .gguf file`,
      'use hf:<user>/<repo>/<file>.gguf[#revision] or an https:// URL',
    );
  for (const field of ['layers', 'embeddingLength', 'headCount', 'trainedContext', 'vocabSize', 'fileBytes'] as const) {
    if (!isPositiveInt(model[field])) problem(field, `${String(model[field])} is not a positive integer`, rerun);
  }
  const kvCache = model.embedding?.kvCache ?? true;
  if (kvCache) {
    if (!isPositiveInt(model.kvHeads)) problem('kvHeads', `${model.kvHeads} is not a positive integer`, rerun);
    else if (isPositiveInt(model.headCount) && (model.kvHeads > model.headCount || model.headCount % model.kvHeads !== 0)) {
      problem(
        'kvHeads',
        `${model.kvHeads} KV heads do not divide ${model.headCount} query heads (grouped-query attention shares each KV head among a whole number of query heads)`,
        `read <arch>.attention.head_count_kv from the header (${rerun})`,
      );
    }
    for (const field of ['headDim', 'valueLength'] as const) {
      const v = model[field];
      if (v !== undefined && (!isPositiveInt(v) || v > 1024)) problem(field, `${String(v)} is not a head width (a positive integer up to 1024)`, rerun);
    }
  }

  if (!knownQuantizations.has(model.quantization)) {
    problem('quantization', `"${model.quantization}" is not a quantization llama.cpp writes`, `use one of ${[...knownQuantizations].join(', ')}`);
  }

  // Tensor totals from the header must match ggml's storage sizes exactly.
  let tensorBytes: number | undefined;
  if (model.tensorTypes) {
    tensorBytes = 0;
    let elements = 0;
    for (const [type, t] of Object.entries(model.tensorTypes)) {
      const block = ggmlBlocks[type];
      if (!block) {
        problem(`tensorTypes.${type}`, 'is not a ggml tensor type', rerun);
        continue;
      }
      if (!isPositiveInt(t.elements) || t.elements % block.elements !== 0 || t.bytes !== (t.elements / block.elements) * block.bytes) {
        problem(`tensorTypes.${type}`, `${t.elements} elements cannot take ${t.bytes} bytes (${block.bytes} bytes per ${block.elements} elements)`, rerun);
      }
      tensorBytes += t.bytes;
      elements += t.elements;
    }
    if (model.parameters !== undefined && model.parameters !== elements) {
      problem('parameters', `${model.parameters} differs from the ${elements} elements of tensorTypes`, rerun);
    }
  } else if (model.parameters === undefined) {
    problem(
      'parameters',
      'is missing, and there are no tensorTypes: the file size cannot be checked',
      'add the published parameter count, or run `npm run model:add`',
    );
  }
  if (model.parameters !== undefined && !isPositiveInt(model.parameters)) problem('parameters', `${model.parameters} is not a positive integer`, rerun);

  // File size against the weights it must hold.
  const parts = modelParts(model);
  if (isPositiveInt(model.fileBytes)) {
    if (tensorBytes !== undefined) {
      const most = tensorBytes + headerAllowanceBytes * parts.length;
      if (model.fileBytes < tensorBytes || model.fileBytes > most) {
        problem(
          'fileBytes',
          `${model.fileBytes} bytes cannot hold ${tensorBytes} bytes of tensors plus at most ${headerAllowanceBytes * parts.length} of headers`,
          'take the exact size from the file listing, or run `npm run model:add`',
        );
      }
    } else if (isPositiveInt(model.parameters) && knownQuantizations.has(model.quantization)) {
      const implied = (model.fileBytes * 8) / model.parameters;
      const type = dominantTensorType(model.quantization);
      const nominal = type === undefined ? undefined : ggmlBitsPerWeight(type);
      if (nominal === undefined) {
        problem('tensorTypes', `${model.quantization} has no known dominant tensor type to check fileBytes against`, rerun);
      } else if (implied < nominal * bitsPerWeightRange.min || implied > nominal * bitsPerWeightRange.max) {
        problem(
          'fileBytes',
          `${model.fileBytes} bytes for ${model.parameters} parameters is ${implied.toFixed(2)} bits per weight, impossible for ${model.quantization} (${type} is ${nominal.toFixed(2)}; expected ${(nominal * bitsPerWeightRange.min).toFixed(2)}-${(nominal * bitsPerWeightRange.max).toFixed(2)})`,
          'take the exact size in bytes from the file listing (a missing or extra digit is the usual cause)',
        );
      }
    }
  }

  // Parts: names, sizes and hashes.
  if (model.parts) {
    const sized = model.parts.filter((p) => p.bytes !== undefined);
    const sum = sized.reduce((a, p) => a + (p.bytes ?? 0), 0);
    if (sized.some((p) => !isPositiveInt(p.bytes))) problem('parts', 'a part has no positive byte count', rerun);
    else if (sized.length < model.parts.length) {
      if (model.integrity?.status !== 'unverified')
        problem('parts', 'a part has no byte count', "add every part's exact size, or mark the entry unverified with the reason");
    } else if (sum !== model.fileBytes)
      problem('fileBytes', `${model.fileBytes} differs from the ${sum} bytes of its ${model.parts.length} parts`, 'set fileBytes to the sum of the parts');
    if (model.parts.length > 1) {
      const first = parseSplitName(model.parts[0]!.fileName);
      model.parts.forEach((p, i) => {
        const expected = first ? splitPartName(first.prefix, i + 1, model.parts!.length) : undefined;
        if (p.fileName !== expected)
          problem(
            `parts[${i}].fileName`,
            `"${p.fileName}" is not part ${i + 1} of ${model.parts!.length} (${expected ?? '<prefix>-0000k-of-0000N.gguf'})`,
            'list every part of the split in order, named as gguf-split names them',
          );
      });
    }
    const sourceFile = model.source.split('#')[0]!.split('/').pop();
    if (model.parts[0] && sourceFile !== model.parts[0].fileName)
      problem(
        'source',
        `names ${sourceFile ?? '(nothing)'}, not the first part ${model.parts[0].fileName}`,
        'point source at the first part: llama.cpp loads the rest from the same folder',
      );
  } else if ((parseSplitName(model.source.split('#')[0]!)?.parts ?? 1) > 1) {
    problem(
      'parts',
      `${model.source} is one part of a split model, and the entry lists no parts`,
      'list every part (with bytes and sha256), or run `npm run model:add` on the first part',
    );
  }
  parts.forEach((p, i) => {
    if (p.sha256 !== undefined && !sha256Pattern.test(p.sha256))
      problem(`parts[${i}].sha256`, `"${p.sha256}" is not 64 lower-case hex digits`, 'copy the sha256 from the file listing');
  });
  if (model.sha256 !== undefined) {
    const declared = parts.map((p) => p.sha256);
    const expected = declared.every((h) => h !== undefined) ? declared.join(',') : undefined;
    if (model.parts && model.parts.length > 0 && expected !== model.sha256)
      problem('sha256', 'differs from the sha256 of the parts, in order', "set sha256 to the parts' sha256 joined by commas (the MODEL_SHA256 format)");
    if (!model.parts && !sha256Pattern.test(model.sha256))
      problem('sha256', `"${model.sha256}" is not 64 lower-case hex digits`, 'copy the sha256 from the file listing');
  }
  if (model.integrity?.status === 'verified' && parts.some((p) => p.sha256 === undefined)) {
    problem('integrity', "is 'verified' but a part has no sha256", "add every part's sha256, or mark the entry unverified with a reason");
  }
  if (model.integrity?.status === 'unverified' && model.integrity.reason.trim() === '')
    problem('integrity.reason', 'is empty', 'say why the sizes or hashes could not be sourced');

  // Against what the file itself said when the entry was written.
  if (model.header) {
    for (const field of headerCheckedFields) {
      const read = model.header[field];
      if (read === undefined) continue;
      const value = field === 'valueLength' ? (model.valueLength ?? model.headDim) : model[field];
      if (value !== read) {
        problem(
          field,
          `is ${String(value)} but the GGUF header ${field === 'fileBytes' ? 'and file listing say' : 'says'} ${String(read)}`,
          `set ${field} back to ${String(read)}, or run \`npm run model:add\` again if the file changed`,
        );
      }
    }
  }

  // Shape extras.
  if (model.slidingWindow) {
    const { size, layers } = model.slidingWindow;
    if (!isPositiveInt(size) || size >= model.trainedContext)
      problem('slidingWindow.size', `${size} is not a window smaller than the ${model.trainedContext}-token trained context`, rerun);
    if (!Number.isInteger(layers) || layers < 0 || layers > model.layers)
      problem('slidingWindow.layers', `${layers} is not a layer count from 0 to ${model.layers}`, rerun);
  }
  if (model.experts) {
    const { count, used, activeParameters } = model.experts;
    if (!isPositiveInt(count) || !isPositiveInt(used) || used > count) problem('experts', `${used} used of ${count} experts is impossible`, rerun);
    if (activeParameters !== undefined && model.parameters !== undefined && !(activeParameters > 0 && activeParameters <= model.parameters)) {
      problem('experts.activeParameters', `${activeParameters} is not between 1 and the ${model.parameters} parameters`, rerun);
    }
  }
  if (model.embedding && model.embedding.pooling.trim() === '')
    problem('embedding.pooling', 'is empty', 'name the pooling (mean, cls, last) from <arch>.pooling_type');
  if (model.tokenEmbedding && (!(model.tokenEmbedding.type in ggmlBlocks) || !isPositiveInt(model.tokenEmbedding.bytes))) {
    problem('tokenEmbedding', `${model.tokenEmbedding.type} / ${model.tokenEmbedding.bytes} bytes is not a ggml type and size`, rerun);
  }
  return problems;
}

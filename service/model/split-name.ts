/**
 * Names of split GGUF files. llama.cpp's `gguf-split` writes `<prefix>-00001-of-0000N.gguf` ... and
 * `llama_split_path` formats them as `%s-%05d-of-%05d.gguf`; llama.cpp loads the first part and finds the
 * others next to it by that name (node-llama-cpp's `resolveSplitGgufParts` uses the same pattern).
 */

const splitPattern = /-(\d{5})-of-(\d{5})\.gguf$/i;

export interface SplitName {
  /** The name without `-0000k-of-0000N.gguf`. */
  readonly prefix: string;
  /** 1-based part number of this name. */
  readonly part: number;
  /** How many parts there are. */
  readonly parts: number;
}

/** The split facts of a file name or URL path, or undefined for a single-file model. */
export function parseSplitName(name: string): SplitName | undefined {
  const m = splitPattern.exec(name);
  if (!m) return undefined;
  const part = Number(m[1]);
  const parts = Number(m[2]);
  if (part < 1 || parts < 1 || part > parts) return undefined;
  return { prefix: name.slice(0, m.index), part, parts };
}

/** Name of part `part` of `parts` (1-based). */
export function splitPartName(prefix: string, part: number, parts: number): string {
  return `${prefix}-${String(part).padStart(5, '0')}-of-${String(parts).padStart(5, '0')}.gguf`;
}

/** Every part's name, in order, for the name of any one part; a single-file name gives itself. */
export function allPartNames(name: string): string[] {
  const split = parseSplitName(name);
  if (split === undefined || split.parts === 1) return [name];
  return Array.from({ length: split.parts }, (_, i) => splitPartName(split.prefix, i + 1, split.parts));
}

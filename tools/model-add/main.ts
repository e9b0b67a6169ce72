/**
 * `npm run model:add -- <path | hf:user/repo/file.gguf[#revision] | https://...> [options]`
 *
 * Reads the model's own header (every part of a split model), sizes and hashes, writes a typed catalogue
 * entry to `charts/models/entries/<id>.ts` and registers it in `entries/index.ts`. Nothing is written
 * unless the whole entry could be read and passes the catalogue checks; a failure prints one line and
 * exits 1.
 *
 * Options:
 *   --id <id>              catalogue id (default: from the file name)
 *   --source <ref>         what the cluster downloads (required for a local path: an hf: reference or URL)
 *   --sha256 <hex[,hex]>   sha256 per part, in order, when the server publishes none
 *   --reference <url>      the page a reviewer should read (default: the hub repository)
 *   --catalogue-dir <dir>  where entries live (default: charts/models/entries)
 *   --force                replace an existing entry file of the same id
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateModelSpec } from '../../charts/models/validate.js';
import { entriesDirName, registryFileName, renderRegistry, scanEntries } from '../../charts/models/registry.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { formatProblem } from '../../charts/lib/config-error.js';
import { formatGiB } from '../../charts/sizing/units.js';
import { buildEntry, renderEntryFile } from './entry.js';
import { inspectModel, OnboardError } from './inspect.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const defaultCatalogueDir = path.join(repoRoot, 'charts', 'models', entriesDirName);
const typesFile = path.join(repoRoot, 'charts', 'models', 'types.js');

export interface ModelAddArgs {
  ref: string;
  id?: string;
  source?: string;
  sha256?: string[];
  reference?: string;
  catalogueDir: string;
  force: boolean;
}

export function parseArgs(argv: readonly string[]): ModelAddArgs {
  const out: Partial<ModelAddArgs> & { catalogueDir: string; force: boolean } = { catalogueDir: defaultCatalogueDir, force: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    const value = (): string => {
      const v = arg.startsWith('--') && eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (v === undefined || v === '') throw new OnboardError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--id':
        out.id = value();
        break;
      case '--source':
        out.source = value();
        break;
      case '--sha256':
        out.sha256 = value().split(',');
        break;
      case '--reference':
        out.reference = value();
        break;
      case '--catalogue-dir':
        out.catalogueDir = path.resolve(value());
        break;
      case '--force':
        out.force = true;
        break;
      default:
        if (arg.startsWith('--')) throw new OnboardError(`unknown option ${arg}`);
        if (out.ref !== undefined) throw new OnboardError(`one model per run: got "${out.ref}" and "${arg}"`);
        out.ref = arg;
    }
  }
  if (out.ref === undefined)
    throw new OnboardError(
      'usage: npm run model:add -- <path | hf:user/repo/file.gguf[#revision] | https://...> [--source REF] [--id ID] [--sha256 HEX[,HEX...]]',
    );
  return out as ModelAddArgs;
}

const isRemoteRef = (ref: string): boolean => /^(hf|https?):/i.test(ref.trim());

export interface ModelAddResult {
  entry: ModelSpec;
  entryFile: string;
  registryFile: string;
}

/** Runs the command; throws OnboardError (one line) before writing anything when something is wrong. */
export async function modelAdd(args: ModelAddArgs): Promise<ModelAddResult> {
  const remote = isRemoteRef(args.ref);
  if (!remote && args.source === undefined) {
    throw new OnboardError('a local file needs --source <hf:user/repo/file.gguf | https://...>: where the cluster downloads it from');
  }
  if (!remote && args.source !== undefined) {
    const local = path.basename(args.ref);
    const named = args.source.split('#')[0]!.split('?')[0]!.split('/').pop();
    if (named !== local)
      throw new OnboardError(
        `--source names ${named ?? '(nothing)'} but the file is ${local}: the cache file name comes from the source, and llama.cpp finds split parts by that name`,
      );
  }
  if (!existsSync(args.catalogueDir)) throw new OnboardError(`catalogue folder ${args.catalogueDir} does not exist`);
  const inspected = await inspectModel({ ref: args.ref, ...(args.sha256 ? { sha256: args.sha256 } : {}) });
  const entry = buildEntry(inspected, {
    source: args.source ?? args.ref.trim(),
    ...(args.id ? { id: args.id } : {}),
    ...(args.reference ? { reference: args.reference } : {}),
  });

  const entryFile = path.join(args.catalogueDir, `${entry.id}.ts`);
  const registryFile = path.join(args.catalogueDir, registryFileName);
  const repoRelativeDir = path.relative(repoRoot, args.catalogueDir).split(path.sep).join('/');
  const problems = validateModelSpec(entry, `${repoRelativeDir}/${entry.id}.ts`);
  if (problems.length > 0) throw new OnboardError(`the entry read from the file fails the catalogue checks: ${problems.map(formatProblem).join('; ')}`);
  if (existsSync(entryFile) && !args.force) throw new OnboardError(`${entryFile} exists: pass --force to replace it, or --id to add it under another id`);
  for (const f of readdirSync(args.catalogueDir)) {
    if (!f.endsWith('.ts') || f === registryFileName || f === `${entry.id}.ts`) continue;
    if (readFileSync(path.join(args.catalogueDir, f), 'utf8').includes(`id: '${entry.id}',`)) {
      throw new OnboardError(`${path.join(args.catalogueDir, f)} already has id ${entry.id}: pass --id to choose another`);
    }
  }

  let typesImport = path.relative(args.catalogueDir, typesFile).split(path.sep).join('/');
  if (!typesImport.startsWith('.')) typesImport = `./${typesImport}`;
  // Recorded in the committed entry: a local file by name and the source it stands for, not this machine's path.
  const command = remote ? `npm run model:add -- ${args.ref}` : `npm run model:add -- ${path.basename(args.ref)} --source ${args.source}`;
  const entryText = renderEntryFile(entry, typesImport, command);
  const registryText = renderRegistry(scanEntries(args.catalogueDir, [{ fileName: `${entry.id}.ts`, text: entryText }]), repoRelativeDir, typesImport);

  // Write both under temporary names first; the registry is renamed last, so it never names a missing file.
  const tmpEntry = `${entryFile}.${process.pid}.tmp`;
  const tmpRegistry = `${registryFile}.${process.pid}.tmp`;
  try {
    await writeFile(tmpEntry, entryText);
    await writeFile(tmpRegistry, registryText);
    await rename(tmpEntry, entryFile);
    await rename(tmpRegistry, registryFile);
  } catch (err) {
    await rm(tmpEntry, { force: true });
    await rm(tmpRegistry, { force: true });
    throw new OnboardError(`cannot write the entry in ${args.catalogueDir}: ${err instanceof Error ? err.message : String(err)}`);
  }
  return { entry, entryFile, registryFile };
}

function reviewNotes(entry: ModelSpec): string[] {
  const notes = [
    `${entry.id}: ${entry.architecture} ${entry.quantization}, ${formatGiB(entry.fileBytes)} in ${entry.parts?.length ?? 1} part(s), ${entry.layers} layers, ${entry.kvHeads}/${entry.headCount} KV/query heads, head width ${entry.headDim}, trained context ${entry.trainedContext}`,
  ];
  if (entry.integrity?.status === 'unverified') notes.push(`unverified: ${entry.integrity.reason} (synth warns until it is pinned)`);
  if (entry.slidingWindow)
    notes.push(
      `sliding window ${entry.slidingWindow.size} on ${entry.slidingWindow.layers} of ${entry.layers} layers: their KV cache is bounded by the window`,
    );
  if (entry.experts) notes.push(`mixture of experts: ${entry.experts.used} of ${entry.experts.count} experts per token; every expert is mapped into memory`);
  if (entry.embedding) notes.push(`embedding model (pooling ${entry.embedding.pooling}${entry.embedding.kvCache ? '' : ', no KV cache'})`);
  return notes;
}

/** `--help`: the options above, printed before anything is read or written. */
export const modelAddUsage = [
  'usage: npm run model:add -- <path | hf:user/repo/file.gguf[#revision] | https://...> [options]',
  '',
  'Reads the GGUF header (every part of a split model), sizes and hashes the file, and writes a typed',
  'catalogue entry to charts/models/entries/<id>.ts, registered in entries/index.ts.',
  '',
  'Options:',
  '  --id <id>              catalogue id (default: from the file name)',
  '  --source <ref>         what the cluster downloads (required for a local path: an hf: reference or URL)',
  '  --sha256 <hex[,hex]>   sha256 per part, in order, when the server publishes none',
  '  --reference <url>      the page a reviewer should read (default: the hub repository)',
  '  --catalogue-dir <dir>  where entries live (default: charts/models/entries)',
  '  --force                replace an existing entry file of the same id',
  '  -h, --help             this text',
  '',
].join('\n');

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain && (process.argv.includes('--help') || process.argv.includes('-h'))) {
  process.stdout.write(modelAddUsage);
} else if (isMain) {
  try {
    const result = await modelAdd(parseArgs(process.argv.slice(2)));
    process.stdout.write(`wrote ${path.relative(process.cwd(), result.entryFile)} and registered it in ${path.relative(process.cwd(), result.registryFile)}\n`);
    for (const note of reviewNotes(result.entry)) process.stdout.write(`  ${note}\n`);
    process.stdout.write('  review the entry, then use it in charts/environments/ and run `npm run synth`\n');
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`model:add: ${(err instanceof OnboardError ? message : `unexpected failure: ${message}`).replace(/\s*\n\s*/g, ' ')}\n`);
    process.exitCode = 1;
  }
}

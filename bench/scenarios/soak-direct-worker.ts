/**
 * The soak's "node-llama-cpp direct" stack: plain node-llama-cpp, no service code and no HTTP. One context
 * with `sequences` sequences; `clients` loops run at the same time, each on its own sequence, one
 * generation after another (a new LlamaChat per request, disposed, then `clearHistory()`, as any server
 * built on node-llama-cpp would do). It reports its own memory after every `sampleEvery` requests.
 *
 * argv: one JSON object {modelPath, libraryDir, requests, clients, sequences, contextSize, threads,
 * sampleEvery, maxTokens: [min, max], promptWords: [min, max]}. `libraryDir` is the node-llama-cpp package
 * to load (the installed, patched one, or an unpatched copy for the before curve).
 * stdout: one JSON line per event: {type: 'ready'|'sample'|'done'|'error', ...}.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as NodeLlamaCpp from 'node-llama-cpp';
import { soakPrompt, soakMaxTokens } from './soak-load.js';

interface Args {
  modelPath: string;
  libraryDir: string;
  requests: number;
  clients: number;
  sequences: number;
  contextSize: number;
  threads: number;
  sampleEvery: number;
  maxTokens: [number, number];
  promptWords: [number, number];
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;

function emit(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

function memory(): { rssBytes: number; anonBytes: number; heapTotalBytes: number } {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
  return { rssBytes: kb('VmRSS'), anonBytes: kb('RssAnon'), heapTotalBytes: process.memoryUsage().heapTotal };
}

async function main(): Promise<void> {
  const lib = (await import(pathToFileURL(join(args.libraryDir, 'dist/index.js')).href)) as typeof NodeLlamaCpp;
  const llama = await lib.getLlama({ gpu: false, build: 'never', maxThreads: args.threads, logLevel: lib.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: args.modelPath, gpuLayers: 0 });
  const context = await model.createContext({ contextSize: args.contextSize, sequences: args.sequences, threads: args.threads });
  const chatWrapper = lib.resolveChatWrapper(model);
  const sequences = Array.from({ length: args.sequences }, () => context.getSequence());
  emit({ type: 'ready', ...memory() });

  let started = 0;
  let finished = 0;
  let tokens = 0;
  const t0 = performance.now();
  const client = async (index: number): Promise<void> => {
    const sequence = sequences[index % sequences.length] as NodeLlamaCpp.LlamaContextSequence;
    while (started < args.requests) {
      const i = started++;
      const chat = new lib.LlamaChat({ contextSequence: sequence, chatWrapper });
      try {
        const history: NodeLlamaCpp.ChatHistoryItem[] = [
          { type: 'user', text: soakPrompt(i, args.promptWords) },
          { type: 'model', response: [] },
        ];
        const r = await chat.generateResponse(history, { maxTokens: soakMaxTokens(i, args.maxTokens), temperature: 0.8, seed: i });
        tokens += r.response.length > 0 ? 1 : 0;
      } finally {
        chat.dispose({ disposeSequence: false });
        await sequence.clearHistory();
      }
      finished++;
      if (finished % args.sampleEvery === 0) emit({ type: 'sample', requests: finished, seconds: (performance.now() - t0) / 1000, ...memory() });
    }
  };
  await Promise.all(Array.from({ length: args.clients }, (_, c) => client(c)));
  emit({ type: 'done', requests: finished, nonEmpty: tokens, seconds: (performance.now() - t0) / 1000, ...memory() });
  await context.dispose();
  await model.dispose();
  await llama.dispose();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    emit({ type: 'error', error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);

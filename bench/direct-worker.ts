/**
 * node-llama-cpp called directly (no HTTP, no service code): the floor the service's own overhead is
 * measured against, and the harness for the thread-sizing comparison (it runs under `taskset` or in a
 * CPU-quota cgroup as a separate process).
 *
 * Protocol: one JSON command per stdin line, one JSON reply per stdout line (`{"ok":true,...}` or
 * `{"ok":false,"error":...}`). Commands:
 *  - {cmd:"load", modelPath}                                    getLlama (gpu off) + loadModel
 *  - {cmd:"context", threads: number|"default"|"auto", contextSize, sequences}
 *      (re)creates the context; "default" passes no thread count anywhere (node-llama-cpp's own
 *      choice), "auto" uses the service's chooseThreads() as seen from this process
 *  - {cmd:"generate", requests: [{messages, maxTokens}], budgetMs}  concurrent LlamaChat generations,
 *      one per sequence; each is aborted after budgetMs (its rate then covers the tokens made so far)
 *  - {cmd:"exit"}
 */
import { createInterface } from 'node:readline';
import {
  getLlama,
  LlamaChat,
  LlamaLogLevel,
  resolveChatWrapper,
  type ChatHistoryItem,
  type ChatWrapper,
  type Llama,
  type LlamaContext,
  type LlamaModel,
} from 'node-llama-cpp';
import { chooseThreads } from '../service/runtime/threads.js';

interface Message {
  role: 'system' | 'user';
  content: string;
}

type Command =
  | { cmd: 'load'; modelPath: string }
  | { cmd: 'context'; threads: number | 'default' | 'auto'; contextSize: number; sequences: number }
  | { cmd: 'generate'; requests: { messages: Message[]; maxTokens: number }[]; budgetMs: number }
  | { cmd: 'exit' };

export interface DirectSample {
  ttftMs: number;
  firstAt: number;
  lastAt: number;
  sentAt: number;
  totalMs: number;
  completionTokens: number;
  promptTokens: number;
  contentChunks: number;
  stopReason: string;
  text: string;
  /** performance.now() of the first and last onToken callback, and the tokens they carried. */
  firstTokenAt: number;
  lastTokenAt: number;
  tokenCallbacks: number;
  tokensSeen: number;
}

let llama: Llama | undefined;
let model: LlamaModel | undefined;
let context: LlamaContext | undefined;
let chatWrapper: ChatWrapper | undefined;
let defaultMaxThreads = 0;

function history(messages: Message[]): ChatHistoryItem[] {
  const h: ChatHistoryItem[] = messages.map((m) => (m.role === 'system' ? { type: 'system', text: m.content } : { type: 'user', text: m.content }));
  h.push({ type: 'model', response: [] });
  return h;
}

async function handle(c: Command): Promise<Record<string, unknown>> {
  switch (c.cmd) {
    case 'load': {
      const t0 = performance.now();
      // No maxThreads: node-llama-cpp's default is recorded, and each context sets its own.
      llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.warn });
      defaultMaxThreads = llama.maxThreads;
      model = await llama.loadModel({ modelPath: c.modelPath, gpuLayers: 0 });
      chatWrapper = resolveChatWrapper(model);
      return {
        loadMs: performance.now() - t0,
        defaultMaxThreads,
        cpuMathCores: llama.cpuMathCores,
        chatWrapper: chatWrapper.wrapperName,
      };
    }
    case 'context': {
      if (!llama || !model) throw new Error('load first');
      if (context) await context.dispose();
      context = undefined;
      let threads: number | undefined;
      let auto: Awaited<ReturnType<typeof chooseThreads>> | undefined;
      if (c.threads === 'default') {
        llama.maxThreads = defaultMaxThreads;
      } else if (c.threads === 'auto') {
        auto = await chooseThreads();
        threads = auto.threads;
      } else {
        threads = c.threads;
      }
      if (threads !== undefined) llama.maxThreads = threads;
      context = await model.createContext({
        contextSize: c.contextSize,
        sequences: c.sequences,
        ...(threads !== undefined ? { threads } : {}),
      });
      return {
        threadsRequested: c.threads,
        idealThreads: context.idealThreads,
        llamaMaxThreads: llama.maxThreads,
        contextSize: context.contextSize,
        batchSize: context.batchSize,
        flashAttention: context.flashAttention,
        ...(auto ? { auto } : {}),
      };
    }
    case 'generate': {
      if (!context || !chatWrapper) throw new Error('create a context first');
      if (c.requests.length > context.totalSequences) throw new Error('more requests than sequences');
      const ctx = context;
      const wrapper = chatWrapper;
      const samples = await Promise.all(
        c.requests.map(async (r) => {
          const sequence = ctx.getSequence();
          const chat = new LlamaChat({ contextSequence: sequence, chatWrapper: wrapper });
          const ac = new AbortController();
          const timer = setTimeout(() => ac.abort(new Error('budget')), c.budgetMs);
          const s: DirectSample = {
            ttftMs: Number.NaN,
            firstAt: Number.NaN,
            lastAt: Number.NaN,
            sentAt: performance.now(),
            totalMs: Number.NaN,
            completionTokens: 0,
            promptTokens: Number.NaN,
            contentChunks: 0,
            stopReason: '',
            text: '',
            firstTokenAt: Number.NaN,
            lastTokenAt: Number.NaN,
            tokenCallbacks: 0,
            tokensSeen: 0,
          };
          const h = history(r.messages);
          s.promptTokens = wrapper.generateContextState({ chatHistory: h }).contextText.tokenize(ctx.model.tokenizer).length;
          const before = sequence.tokenMeter.usedOutputTokens;
          try {
            const res = await chat.generateResponse(h, {
              maxTokens: r.maxTokens,
              temperature: 0,
              repeatPenalty: false,
              signal: ac.signal,
              stopOnAbortSignal: true,
              onToken: (tokens) => {
                const now = performance.now();
                if (s.tokenCallbacks === 0) s.firstTokenAt = now;
                s.lastTokenAt = now;
                s.tokenCallbacks++;
                s.tokensSeen += tokens.length;
              },
              onTextChunk: (text) => {
                if (text === '') return;
                const now = performance.now();
                if (s.contentChunks === 0) {
                  s.firstAt = now;
                  s.ttftMs = now - s.sentAt;
                }
                s.lastAt = now;
                s.contentChunks++;
                s.text += text;
              },
            });
            s.stopReason = res.metadata.stopReason;
          } catch (err) {
            // Aborted by the time budget before generation started (e.g. a very slow prompt evaluation):
            // report what was made so far instead of failing the whole measurement.
            if (!ac.signal.aborted) throw err;
            s.stopReason = 'budget';
          } finally {
            clearTimeout(timer);
            s.totalMs = performance.now() - s.sentAt;
            s.completionTokens = sequence.tokenMeter.usedOutputTokens - before;
            chat.dispose({ disposeSequence: false });
            await sequence.clearHistory();
            await sequence.dispose();
          }
          return s;
        }),
      );
      return { samples };
    }
    case 'exit':
      if (context) await context.dispose();
      if (model) await model.dispose();
      if (llama) await llama.dispose();
      setTimeout(() => process.exit(0), 50);
      return {};
  }
}

const rl = createInterface({ input: process.stdin });
// Commands run one at a time, in order.
let chain: Promise<void> = Promise.resolve();
rl.on('line', (line) => {
  if (line.trim() === '') return;
  chain = chain.then(async () => {
    let reply: Record<string, unknown>;
    try {
      reply = { ok: true, ...(await handle(JSON.parse(line) as Command)) };
    } catch (err) {
      reply = { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
    }
    process.stdout.write(`@@${JSON.stringify(reply)}\n`);
  });
});
rl.on('close', () => {
  void chain.then(() => process.exit(0));
});

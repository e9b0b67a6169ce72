/**
 * The random-weight test-model generator: caching, file validity (our reader and
 * node-llama-cpp's), the real Qwen2 tokenizer, chat-template recognition, and that generation
 * runs for the full token budget without hitting an end-of-generation token.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  ChatMLChatWrapper,
  getLlama,
  LlamaChatSession,
  LlamaLogLevel,
  QwenChatWrapper,
  readGgufFileInfo,
  type Llama,
  type LlamaContext,
  type LlamaModel,
} from 'node-llama-cpp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTensor, GgmlType, metaArray, readGguf, readTensorBytes } from '../tools/test-model/gguf.js';
import { ensureTestModel, testModelPath } from '../tools/test-model/make-test-model.js';

const execFileAsync = promisify(execFile);
const cliPath = new URL('../tools/test-model/make-test-model.ts', import.meta.url).pathname;

/** "Hello, world!" in the Qwen2 tokenizer, from llama.cpp's models/ggml-vocab-qwen2.gguf.out. */
const HELLO_WORLD_TOKENS = [9707, 11, 1879, 0];

describe('test model generator (tiny)', () => {
  let cacheDir: string;
  let modelPath: string;

  beforeAll(async () => {
    cacheDir = await mkdtemp(join(tmpdir(), 'test-model-'));
    modelPath = await ensureTestModel({ cacheDir });
  });

  afterAll(async () => {
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  it('generates once and reuses the cached file', async () => {
    expect(modelPath).toBe(testModelPath({ cacheDir }));
    const before = await stat(modelPath);
    const again = await ensureTestModel({ cacheDir, shape: 'tiny', quant: 'q8_0' });
    const after = await stat(again);
    expect(again).toBe(modelPath);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(after.ino).toBe(before.ino);
    // No temp or lock files left behind.
    expect((await readdir(cacheDir)).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock'))).toEqual([]);
  });

  it('is readable by node-llama-cpp, with architecture and tokenizer', async () => {
    const info = await readGgufFileInfo(modelPath, { logWarnings: false });
    expect(info.metadata.general.architecture).toBe('qwen2');
    expect(info.metadata.general.name).toBe('gguf-on-k8s test model (random weights)');
    expect(info.metadata.tokenizer.ggml.model).toBe('gpt2');
    expect(info.metadata.tokenizer.ggml.tokens.length).toBe(151936);
    expect(info.metadata.tokenizer.chat_template).toContain('<|im_start|>');
    expect(info.tensorInfo?.map((t) => t.name)).toContain('blk.1.ffn_down.weight');
  });

  it('zeroes the output rows of special tokens and keeps normal rows', async () => {
    const file = readGguf(modelPath);
    const output = file.tensors.find((t) => t.name === 'output.weight');
    expect(output).toMatchObject({ type: GgmlType.Q8_0, dims: [64, 151936] });
    const rows = decodeTensor(GgmlType.Q8_0, await readTensorBytes(modelPath, file, output!));
    const row = (id: number) => Array.from(rows.subarray(id * 64, (id + 1) * 64));
    const tokens = metaArray(file.metadata, 'tokenizer.ggml.tokens')!.items as string[];
    for (const text of ['<|endoftext|>', '<|im_start|>', '<|im_end|>', '</s>']) {
      expect(row(tokens.indexOf(text)).every((v) => v === 0)).toBe(true);
    }
    expect(row(HELLO_WORLD_TOKENS[0]!).some((v) => v !== 0)).toBe(true);
  });

  it('lets concurrent processes share one generation', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'test-model-race-'));
    try {
      // Pre-seed the vocabulary so the race is about the model file itself.
      await copyFile(join(cacheDir, 'ggml-vocab-qwen2.gguf'), join(dir, 'ggml-vocab-qwen2.gguf'));
      const run = () =>
        execFileAsync(process.execPath, ['--import', 'tsx', cliPath, '--cache-dir', dir, '--seed', '7'], {
          cwd: new URL('..', import.meta.url).pathname,
        });
      const results = await Promise.all([run(), run()]);
      const paths = results.map((r) => r.stdout.trim());
      expect(paths[0]).toBe(testModelPath({ cacheDir: dir, seed: 7 }));
      expect(paths[1]).toBe(paths[0]);
      expect(readGguf(paths[0]!).tensors.length).toBe(27);
      const left = (await readdir(dir)).filter((f) => f.endsWith('.tmp') || f.endsWith('.lock'));
      expect(left).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('with node-llama-cpp', () => {
    let llama: Llama | undefined;
    let model: LlamaModel | undefined;
    let context: LlamaContext | undefined;

    beforeAll(async () => {
      // node-llama-cpp is not cgroup-aware: always cap threads explicitly.
      llama = await getLlama({ gpu: false, build: 'never', maxThreads: 2, logLevel: LlamaLogLevel.error });
      model = await llama.loadModel({ modelPath });
      context = await model.createContext({ contextSize: 512, threads: 2 });
    });

    afterAll(async () => {
      await context?.dispose();
      await model?.dispose();
      await llama?.dispose();
    });

    it('tokenizes with the real Qwen2 tokenizer', () => {
      const tokens = model!.tokenize('Hello, world!');
      expect(tokens).toEqual(HELLO_WORLD_TOKENS);
      expect(model!.detokenize(tokens)).toBe('Hello, world!');
      expect(model!.tokens.eos).toBe(151643);
    });

    it('chats for the full token budget with the ChatML wrapper', async () => {
      const session = new LlamaChatSession({ contextSequence: context!.getSequence() });
      try {
        expect(session.chatWrapper).toSatisfy((w) => w instanceof ChatMLChatWrapper || w instanceof QwenChatWrapper);
        let generated = 0;
        const res = await session.promptWithMeta('Say something about Kubernetes.', {
          maxTokens: 32,
          onToken: (tokens) => {
            generated += tokens.length;
          },
        });
        expect(res.stopReason).toBe('maxTokens');
        expect(generated).toBe(32);
        expect(res.responseText.length).toBeGreaterThan(0);
      } finally {
        session.dispose();
      }
    });
  });
});

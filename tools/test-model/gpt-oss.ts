/**
 * A tiny random-weight model of llama.cpp's `gpt-oss` architecture that llama.cpp really loads and runs: a
 * mixture of experts with alternating sliding-window attention, so tests can read what llama.cpp allocates for
 * it (its KV cache per layer kind) instead of trusting an estimate. Tensor list as
 * `llama_model_openai_moe::load_arch_tensors` (`src/models/openai-moe.cpp` in node-llama-cpp's bundle) creates
 * it; the tokenizer is the Qwen2 one of the generated test model (the architecture does not fix the tokenizer).
 * Experts are MXFP4 as in the released files (the writer encodes them as ggml's reference quantizer does), the
 * other matrices Q8_0.
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GgmlType, GgufValueType, gv, readGguf, writeGguf, type GgufMetadata, type GgufTensorToWrite } from './gguf.js';
import { constant, ensureTestModel, NormalishRng, produceOnce, randomRows, tensorSeed, WEIGHT_STD } from './make-test-model.js';

/** The tiny model's shape: what the sliding-window KV cache test sizes against. */
export const tinyGptOss = {
  layers: 4,
  embedding: 64,
  heads: 4,
  kvHeads: 2,
  headDim: 16,
  experts: 4,
  expertsUsed: 2,
  expertWidth: 64,
  /** A window far below any context a test uses, so the window layers are visibly smaller. */
  slidingWindow: 32,
  context: 4096,
} as const;

const GENERATOR_VERSION = 2;

/** Path of the cached tiny gpt-oss model, generated on first use next to the Qwen2 test model it takes its tokenizer from. */
export async function ensureTinyGptOss(seed = 1): Promise<string> {
  const tokenizerSource = await ensureTestModel();
  const target = join(dirname(tokenizerSource), `gpt-oss-tiny-mxfp4-seed${seed}-v${GENERATOR_VERSION}.gguf`);
  if (existsSync(target)) return target;
  await produceOnce(target, async () => {
    const tmp = `${target}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
    try {
      await writeGguf(tmp, build(tokenizerSource, seed));
      await rename(tmp, target);
    } finally {
      await rm(tmp, { force: true });
    }
  });
  return target;
}

function build(tokenizerSource: string, seed: number): { metadata: GgufMetadata; tensors: GgufTensorToWrite[] } {
  const s = tinyGptOss;
  const source = readGguf(tokenizerSource);
  const tokens = source.metadata.get('tokenizer.ggml.tokens');
  if (tokens?.type !== GgufValueType.ARRAY) throw new Error(`${tokenizerSource} has no tokenizer.ggml.tokens`);
  const vocab = tokens.value.items.length;
  const a = 'gpt-oss';
  const metadata: GgufMetadata = new Map([
    ['general.architecture', gv.str(a)],
    ['general.name', gv.str('gguf-on-k8s tiny gpt-oss (random weights)')],
    ['general.alignment', gv.u32(32)],
    [`${a}.block_count`, gv.u32(s.layers)],
    [`${a}.context_length`, gv.u32(s.context)],
    [`${a}.embedding_length`, gv.u32(s.embedding)],
    [`${a}.feed_forward_length`, gv.u32(s.expertWidth)],
    [`${a}.expert_feed_forward_length`, gv.u32(s.expertWidth)],
    [`${a}.expert_count`, gv.u32(s.experts)],
    [`${a}.expert_used_count`, gv.u32(s.expertsUsed)],
    [`${a}.attention.head_count`, gv.u32(s.heads)],
    [`${a}.attention.head_count_kv`, gv.u32(s.kvHeads)],
    [`${a}.attention.key_length`, gv.u32(s.headDim)],
    [`${a}.attention.value_length`, gv.u32(s.headDim)],
    [`${a}.rope.dimension_count`, gv.u32(s.headDim)],
    [`${a}.attention.sliding_window`, gv.u32(s.slidingWindow)],
    [`${a}.attention.layer_norm_rms_epsilon`, gv.f32(1e-5)],
    [`${a}.rope.freq_base`, gv.f32(150_000)],
    ...[...source.metadata].filter(([k]) => k.startsWith('tokenizer.')),
  ]);

  const tensors: GgufTensorToWrite[] = [];
  const random = (name: string, dims: number[], type: GgmlType.F32 | GgmlType.Q8_0 | GgmlType.MXFP4): void => {
    tensors.push({
      name,
      dims,
      type,
      data: randomRows(
        tensorSeed(seed, name),
        dims[0]!,
        dims.slice(1).reduce((x, y) => x * y, 1),
        WEIGHT_STD,
      ),
    });
  };
  const vector = (name: string, data: Float32Array): void => {
    tensors.push({ name, dims: [data.length], type: GgmlType.F32, data });
  };
  const smallRandom = (name: string, ...dims: number[]): void => {
    const data = new Float32Array(dims.reduce((x, y) => x * y, 1));
    new NormalishRng(tensorSeed(seed, name)).fill(data, WEIGHT_STD);
    tensors.push({ name, dims, type: GgmlType.F32, data });
  };
  const d = s.embedding;
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  random('token_embd.weight', [d, vocab], GgmlType.Q8_0);
  vector('output_norm.weight', constant(d, 1));
  random('output.weight', [d, vocab], GgmlType.Q8_0);
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}`;
    vector(`${b}.attn_norm.weight`, constant(d, 1));
    vector(`${b}.post_attention_norm.weight`, constant(d, 1));
    random(`${b}.attn_q.weight`, [d, q], GgmlType.Q8_0);
    random(`${b}.attn_k.weight`, [d, kv], GgmlType.Q8_0);
    random(`${b}.attn_v.weight`, [d, kv], GgmlType.Q8_0);
    smallRandom(`${b}.attn_q.bias`, q);
    smallRandom(`${b}.attn_k.bias`, kv);
    smallRandom(`${b}.attn_v.bias`, kv);
    random(`${b}.attn_output.weight`, [q, d], GgmlType.Q8_0);
    smallRandom(`${b}.attn_output.bias`, d);
    smallRandom(`${b}.attn_sinks.weight`, s.heads);
    random(`${b}.ffn_gate_inp.weight`, [d, s.experts], GgmlType.F32);
    smallRandom(`${b}.ffn_gate_inp.bias`, s.experts);
    random(`${b}.ffn_gate_exps.weight`, [d, s.expertWidth, s.experts], GgmlType.MXFP4);
    random(`${b}.ffn_down_exps.weight`, [s.expertWidth, d, s.experts], GgmlType.MXFP4);
    random(`${b}.ffn_up_exps.weight`, [d, s.expertWidth, s.experts], GgmlType.MXFP4);
    smallRandom(`${b}.ffn_gate_exps.bias`, s.expertWidth, s.experts);
    smallRandom(`${b}.ffn_down_exps.bias`, d, s.experts);
    smallRandom(`${b}.ffn_up_exps.bias`, s.expertWidth, s.experts);
  }
  return { metadata, tensors };
}

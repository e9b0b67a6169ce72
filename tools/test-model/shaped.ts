/**
 * GGUF headers of real model shapes, without their weights: the metadata keys and the exact tensor list
 * (names, dimensions, ggml types) that llama.cpp's converter and quantizer write for an architecture, so
 * `npm run model:add` and the sizing can be tested against a 63 GB model's header in a few megabytes.
 *
 * The tensor lists follow llama.cpp's loaders in the source node-llama-cpp 3.21.1 ships
 * (`node_modules/node-llama-cpp/llama/gitRelease.bundle`): `llama_model_openai_moe::load_arch_tensors` in
 * `src/models/openai-moe.cpp` (arch `gpt-oss`) and the `llama` loader in `src/models/llama.cpp`, with the
 * q/k/v tensors of `llama_model_base::create_tensor_qkv` (`src/llama-model.cpp`). Tensor storage sizes come
 * from the one ggml table (service/model/ggml-types.ts), offsets are aligned as ggml's writer aligns them.
 *
 * A written file holds the header only; `bytes` is the size the whole file has (header plus the aligned
 * data section), what a server publishing it must declare (test/support/hub-server.ts `addDeclared`).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { splitPartName } from '../../service/model/split-name.js';
import { encodeGgufHeader, GGUF_DEFAULT_ALIGNMENT, GgmlType, ggmlTensorBytes, gv, GgufValueType, type GgufMetadata } from './gguf.js';
import { findLlamaBundle } from './make-test-model.js';

const execFileAsync = promisify(execFile);

/** One tensor of a header: ggml `ne` (innermost first) and its type. */
export interface ShapedTensor {
  readonly name: string;
  readonly dims: readonly number[];
  readonly type: GgmlType;
}

/** A model's header: metadata and tensor list in file order. */
export interface ShapedModel {
  readonly metadata: GgufMetadata;
  readonly tensors: readonly ShapedTensor[];
}

/** One written part: its path and the byte size of the complete file it stands for. */
export interface WrittenPart {
  readonly path: string;
  readonly bytes: number;
}

/** The hyperparameters of a gpt-oss checkpoint (Hugging Face `config.json` names in the comments). */
export interface GptOssShape {
  /** `general.name` ("Gpt Oss 20b" in ggml-org's files); node-llama-cpp picks its Harmony chat wrapper by this name. */
  readonly name: string;
  /** `num_hidden_layers`: 24 (20b), 36 (120b). */
  readonly layers: number;
  /** `num_local_experts`: 32 (20b), 128 (120b). */
  readonly experts: number;
  /** `num_experts_per_tok`: 4 for both. */
  readonly expertsUsed: number;
  /** `hidden_size`: 2880. */
  readonly embedding: number;
  /** `intermediate_size`, the width of one expert: 2880. */
  readonly expertWidth: number;
  /** `num_attention_heads`: 64. */
  readonly heads: number;
  /** `num_key_value_heads`: 8. */
  readonly kvHeads: number;
  /** `head_dim`: 64 (not hidden_size / heads, so the file states key_length and value_length). */
  readonly headDim: number;
  /** `sliding_window`: 128. */
  readonly slidingWindow: number;
  /** `max_position_embeddings`: 131072. */
  readonly context: number;
  /** Vocabulary (o200k_harmony padded): 201088. */
  readonly vocab: number;
  /** Type of every weight matrix that is not an expert (ggml-org's MXFP4 files: Q8_0). */
  readonly denseType: GgmlType;
}

/** The hyperparameters of a Llama 3.x checkpoint. */
export interface LlamaShape {
  readonly name: string;
  readonly layers: number;
  readonly embedding: number;
  /** `intermediate_size`. */
  readonly feedForward: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly context: number;
  readonly vocab: number;
  /** Type of every weight matrix (a pure quantization: Q8_0, Q6_K). */
  readonly weightType: GgmlType;
  /** llama.cpp's `general.file_type` (llama_ftype) for that quantization. */
  readonly fileType: number;
}

/**
 * A tokenizer of `vocab` placeholder tokens: what the vocabulary size is read from when no `<arch>.vocab_size`
 * key exists. The chat template is added by `withChatTemplate` where a test needs it.
 */
function tokenizerKeys(vocab: number): Array<[string, ReturnType<typeof gv.str>]> {
  return [
    ['tokenizer.ggml.model', gv.str('gpt2')],
    ['tokenizer.ggml.tokens', gv.arr({ itemType: GgufValueType.STRING, items: Array.from({ length: vocab }, (_, i) => `t${i}`) })],
  ];
}

/** llama.cpp's `llama_ftype` value LLAMA_FTYPE_MOSTLY_MXFP4_MOE (node-llama-cpp `GgufFileType.MOSTLY_MXFP4_MOE`). */
const mostlyMxfp4Moe = 38;

/**
 * A gpt-oss header: MXFP4 experts, the other matrices in `denseType`, every norm, bias and attention sink in
 * F32 (llama.cpp's quantizer keeps 1-D tensors and the router `ffn_gate_inp` in F32).
 */
export function gptOssModel(s: GptOssShape): ShapedModel {
  const a = 'gpt-oss';
  const metadata: GgufMetadata = new Map([
    ['general.architecture', gv.str(a)],
    ['general.name', gv.str(s.name)],
    ['general.file_type', gv.u32(mostlyMxfp4Moe)],
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
    [`${a}.attention.sliding_window`, gv.u32(s.slidingWindow)],
    [`${a}.attention.layer_norm_rms_epsilon`, gv.f32(1e-5)],
    [`${a}.rope.freq_base`, gv.f32(150_000)],
    ...tokenizerKeys(s.vocab),
  ]);
  const d = s.embedding;
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  const f32 = GgmlType.F32;
  const tensors: ShapedTensor[] = [
    { name: 'token_embd.weight', dims: [d, s.vocab], type: s.denseType },
    { name: 'output_norm.weight', dims: [d], type: f32 },
    { name: 'output.weight', dims: [d, s.vocab], type: s.denseType },
  ];
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [d], type: f32 },
      { name: `${b}.post_attention_norm.weight`, dims: [d], type: f32 },
      { name: `${b}.attn_q.weight`, dims: [d, q], type: s.denseType },
      { name: `${b}.attn_k.weight`, dims: [d, kv], type: s.denseType },
      { name: `${b}.attn_v.weight`, dims: [d, kv], type: s.denseType },
      { name: `${b}.attn_q.bias`, dims: [q], type: f32 },
      { name: `${b}.attn_k.bias`, dims: [kv], type: f32 },
      { name: `${b}.attn_v.bias`, dims: [kv], type: f32 },
      { name: `${b}.attn_output.weight`, dims: [q, d], type: s.denseType },
      { name: `${b}.attn_output.bias`, dims: [d], type: f32 },
      { name: `${b}.attn_sinks.weight`, dims: [s.heads], type: f32 },
      { name: `${b}.ffn_gate_inp.weight`, dims: [d, s.experts], type: f32 },
      { name: `${b}.ffn_gate_inp.bias`, dims: [s.experts], type: f32 },
      { name: `${b}.ffn_gate_exps.weight`, dims: [d, s.expertWidth, s.experts], type: GgmlType.MXFP4 },
      { name: `${b}.ffn_down_exps.weight`, dims: [s.expertWidth, d, s.experts], type: GgmlType.MXFP4 },
      { name: `${b}.ffn_up_exps.weight`, dims: [d, s.expertWidth, s.experts], type: GgmlType.MXFP4 },
      { name: `${b}.ffn_gate_exps.bias`, dims: [s.expertWidth, s.experts], type: f32 },
      { name: `${b}.ffn_down_exps.bias`, dims: [d, s.experts], type: f32 },
      { name: `${b}.ffn_up_exps.bias`, dims: [s.expertWidth, s.experts], type: f32 },
    );
  }
  return { metadata, tensors };
}

/** A Llama 3.x header of a pure quantization: every matrix `weightType`, norms and the RoPE frequency factors F32. */
export function llamaModel(s: LlamaShape): ShapedModel {
  const a = 'llama';
  const headDim = s.embedding / s.heads;
  const metadata: GgufMetadata = new Map([
    ['general.architecture', gv.str(a)],
    ['general.name', gv.str(s.name)],
    ['general.file_type', gv.u32(s.fileType)],
    [`${a}.block_count`, gv.u32(s.layers)],
    [`${a}.context_length`, gv.u32(s.context)],
    [`${a}.embedding_length`, gv.u32(s.embedding)],
    [`${a}.feed_forward_length`, gv.u32(s.feedForward)],
    [`${a}.attention.head_count`, gv.u32(s.heads)],
    [`${a}.attention.head_count_kv`, gv.u32(s.kvHeads)],
    [`${a}.rope.dimension_count`, gv.u32(headDim)],
    [`${a}.vocab_size`, gv.u32(s.vocab)],
    [`${a}.attention.layer_norm_rms_epsilon`, gv.f32(1e-5)],
    ...tokenizerKeys(s.vocab),
  ]);
  const d = s.embedding;
  const kv = s.kvHeads * headDim;
  const w = s.weightType;
  const f32 = GgmlType.F32;
  const tensors: ShapedTensor[] = [
    { name: 'token_embd.weight', dims: [d, s.vocab], type: w },
    { name: 'output_norm.weight', dims: [d], type: f32 },
    { name: 'output.weight', dims: [d, s.vocab], type: w },
    // Llama 3.1+ converts its RoPE scaling into one frequency-factor tensor of n_rot / 2 values.
    { name: 'rope_freqs.weight', dims: [headDim / 2], type: f32 },
  ];
  for (let i = 0; i < s.layers; i++) {
    const b = `blk.${i}`;
    tensors.push(
      { name: `${b}.attn_norm.weight`, dims: [d], type: f32 },
      { name: `${b}.attn_q.weight`, dims: [d, d], type: w },
      { name: `${b}.attn_k.weight`, dims: [d, kv], type: w },
      { name: `${b}.attn_v.weight`, dims: [d, kv], type: w },
      { name: `${b}.attn_output.weight`, dims: [d, d], type: w },
      { name: `${b}.ffn_norm.weight`, dims: [d], type: f32 },
      { name: `${b}.ffn_gate.weight`, dims: [d, s.feedForward], type: w },
      { name: `${b}.ffn_down.weight`, dims: [s.feedForward, d], type: w },
      { name: `${b}.ffn_up.weight`, dims: [d, s.feedForward], type: w },
    );
  }
  return { metadata, tensors };
}

/**
 * A chat template from llama.cpp's `models/templates/` (the checkpoints' own templates, which llama.cpp keeps for
 * its chat tests), read from node-llama-cpp's source bundle: e.g. `openai-gpt-oss-120b.jinja`.
 */
export async function bundledChatTemplate(fileName: string): Promise<string> {
  const gitDir = await mkdtemp(path.join(tmpdir(), 'llama-bundle-'));
  try {
    await execFileAsync('git', ['clone', '--bare', '--quiet', findLlamaBundle(), gitDir]);
    const { stdout } = await execFileAsync('git', ['--git-dir', gitDir, 'cat-file', 'blob', `HEAD:models/templates/${fileName}`], { maxBuffer: 16 << 20 });
    return stdout;
  } finally {
    await rm(gitDir, { recursive: true, force: true });
  }
}

/** The same header with `tokenizer.chat_template` set, as the converter writes it from the checkpoint. */
export function withChatTemplate(model: ShapedModel, template: string): ShapedModel {
  return { metadata: new Map([...model.metadata, ['tokenizer.chat_template', gv.str(template)]]), tensors: model.tensors };
}

const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Writes the header of `model` as `fileName` (or as `parts` split files named as gguf-split names them, tensors
 * dealt out in order, every part with `split.no` / `split.count` / `split.tensors.count` and the first with all
 * metadata, as tools/test-model/split.ts does for real files). Returns each part's path and full size.
 */
export async function writeShapedGguf(dir: string, fileName: string, model: ShapedModel, parts = 1): Promise<WrittenPart[]> {
  if (!Number.isInteger(parts) || parts < 1 || parts > model.tensors.length) throw new Error(`parts must be 1 to ${model.tensors.length}, got ${parts}`);
  await mkdir(dir, { recursive: true });
  const alignment = GGUF_DEFAULT_ALIGNMENT;
  const perPart = Math.ceil(model.tensors.length / parts);
  const prefix = fileName.replace(/\.gguf$/i, '');
  const written: WrittenPart[] = [];
  for (let i = 0; i < parts; i++) {
    const group = model.tensors.slice(i * perPart, (i + 1) * perPart);
    const splitKeys: GgufMetadata =
      parts === 1
        ? new Map()
        : new Map([
            ['split.no', gv.u16(i)],
            ['split.count', gv.u16(parts)],
            ['split.tensors.count', gv.i32(model.tensors.length)],
          ]);
    const metadata: GgufMetadata = i === 0 ? new Map([...model.metadata, ...splitKeys]) : splitKeys;
    let offset = 0;
    const layout = group.map((t) => {
      const entry = { name: t.name, dims: t.dims, type: t.type, offset };
      offset = alignUp(
        offset +
          ggmlTensorBytes(
            t.type,
            t.dims.reduce((x, y) => x * y, 1),
          ),
        alignment,
      );
      return entry;
    });
    const header = encodeGgufHeader(metadata, layout, alignment);
    const name = parts === 1 ? fileName : splitPartName(prefix, i + 1, parts);
    const file = path.join(dir, name);
    await writeFile(file, header);
    written.push({ path: file, bytes: header.length + offset });
  }
  return written;
}

/**
 * The shape of a catalogue entry: the facts of one GGUF model that the manifests are sized from.
 *
 * `npm run model:add` writes entries from the file's own header (tools/model-add/); hand-written
 * entries are checked by charts/models/validate.ts on every synth, so an impossible figure fails
 * with the entry and field named.
 */

/** One file of a model: a single-file model has one part, a split model `-0000k-of-0000N.gguf` parts. */
export interface ModelPart {
  /** File name in the cache (and the last segment of its URL). */
  readonly fileName: string;
  /** Exact size in bytes; absent only in an unverified entry whose part sizes could not be sourced. */
  readonly bytes?: number;
  /** sha256 of the part, when known. */
  readonly sha256?: string;
}

/** Elements and bytes of one ggml tensor type in the file (from the header's tensor list). */
export interface TensorTypeTotal {
  readonly elements: number;
  readonly bytes: number;
}

/** Fields of an entry that `header` records as read from the file. */
export const headerCheckedFields = [
  'architecture',
  'quantization',
  'layers',
  'embeddingLength',
  'headCount',
  'kvHeads',
  'headDim',
  'valueLength',
  'trainedContext',
  'vocabSize',
  'parameters',
  'fileBytes',
] as const;
export type HeaderCheckedField = (typeof headerCheckedFields)[number];

/** A GGUF model file (or split set of files) and the shape facts that sizing needs. */
export interface ModelSpec {
  /** Short id, used in labels and the `model` field of API answers. */
  readonly id: string;
  /** What the service loads: `hf:<user>/<repo>/<file>.gguf` or an `https://` URL; for a split model, its first part. */
  readonly source: string;
  /**
   * sha256 of the file: the MODEL_SHA256 value. For a split model, one per part, comma-separated in
   * part order. When set, the init container refuses a file that does not match.
   */
  readonly sha256?: string;
  /** Exact size in bytes of the whole model (every part): the weights mapped into memory, the cache volume, the load time. */
  readonly fileBytes: number;
  /** `general.architecture` */
  readonly architecture: string;
  /** llama.cpp's quantization name (`general.file_type`, e.g. Q4_K_M, IQ3_M, BF16). */
  readonly quantization: string;
  /** `<arch>.block_count`: transformer layers, each with its own KV cache. */
  readonly layers: number;
  /** `<arch>.embedding_length` */
  readonly embeddingLength: number;
  /** `<arch>.attention.head_count`: query heads; the KV heads must divide it. */
  readonly headCount: number;
  /** `<arch>.attention.head_count_kv`: KV heads (grouped-query attention shrinks the KV cache). */
  readonly kvHeads: number;
  /** Per-head key width (`<arch>.attention.key_length`, else embedding_length / head_count). */
  readonly headDim: number;
  /** Per-head value width (`<arch>.attention.value_length`). @default headDim */
  readonly valueLength?: number;
  /** `<arch>.context_length`: the context the model was trained for; a larger CONTEXT_SIZE is refused. */
  readonly trainedContext: number;
  /** Tokenizer vocabulary size: sizes the logits buffer. */
  readonly vocabSize: number;
  /**
   * Parameters (tensor elements) of the whole model: exact from the header, or the published figure.
   * With fileBytes it gives the average bits per weight that synth checks against the quantization.
   */
  readonly parameters?: number;
  /** Elements and bytes per ggml tensor type, from the header (every part). @default unknown (hand-written entry) */
  readonly tensorTypes?: Readonly<Record<string, TensorTypeTotal>>;
  /** The token-embedding table: its type and bytes (what stays in host memory on a GPU). @default unknown: vocab x embedding x average bits per weight */
  readonly tokenEmbedding?: { readonly type: string; readonly bytes: number };
  /** Sliding-window attention: the window and how many layers use it (their KV cache is bounded by it). @default none */
  readonly slidingWindow?: { readonly size: number; readonly layers: number };
  /** Mixture of experts: every expert is mapped (weights = the file), one token runs `used` of `count`. @default dense */
  readonly experts?: { readonly count: number; readonly used: number; readonly activeParameters?: number };
  /** Set for an embedding model: its pooling and whether llama.cpp keeps a KV cache for it. @default a generative model */
  readonly embedding?: { readonly pooling: string; readonly kvCache: boolean };
  /** Every file of the model with its size and sha256. @default one part: the file named by `source` */
  readonly parts?: readonly ModelPart[];
  /**
   * 'verified' when every part's byte count and sha256 come from the file itself or the hub's file
   * metadata; 'unverified' (synth warns) when they could not be sourced. @default 'verified' when sha256 is set
   */
  readonly integrity?: { readonly status: 'verified' } | { readonly status: 'unverified'; readonly reason: string };
  /**
   * The sizing facts exactly as `npm run model:add` read them from the GGUF header and the file listing.
   * Synth compares every field above with this record, so a later hand edit (kvHeads 1 instead of 8,
   * fileBytes missing a digit) fails naming the field and what the file says. @default none (hand-written entry)
   */
  readonly header?: Readonly<Partial<Record<HeaderCheckedField, number | string>>>;
  /** Where each figure came from (field name -> source), for the reviewer. */
  readonly provenance?: Readonly<Record<string, string>>;
  /** Where the numbers come from, for the reviewer. */
  readonly reference: string;
}

import type { ModelSpec } from '../models/types.js';
import { tokenEmbeddingBytes } from './memory.js';

/**
 * How llama.cpp places a fully offloaded model on several GPUs, so the GPU memory check can be made per GPU.
 *
 * Modelled on llama.cpp's `llama_model::load_tensors` (src/llama-model.cpp, the source node-llama-cpp 3.21 bundles
 * in llama/gitRelease.bundle). The default split mode is `LLAMA_SPLIT_MODE_LAYER` (`llama_model_default_params`;
 * llama-server's `--split-mode layer`): whole layers, each with its own KV cache, go to one device. With no
 * `tensor_split` (node-llama-cpp passes none) the split points are the devices' free memory, cumulated and
 * normalised, so identical GPUs get equal shares. Layer `il` of the `n_layer + 1` offloaded layers (the output
 * layer counts as the last) goes to the first device whose split point exceeds `il / (n_layer + 1)`
 * (`std::upper_bound`). The input layer (token embeddings) always stays on the CPU.
 *
 * Bytes per layer are the model's weights less the token-embedding table, spread evenly over its layers, plus the
 * layer's share of the KV cache; the output layer adds one more table of vocab x embedding on its device (a tied
 * model's output duplicates the embeddings there; an untied one is counted twice, erring towards refusing).
 */

export interface GpuShare {
  /** Device index, 0-based. */
  readonly device: number;
  /** Repeating layers placed on it: first and last index, or undefined when it got none. */
  readonly layers: { readonly first: number; readonly last: number; readonly count: number } | undefined;
  /** Whether the output layer is on this device. */
  readonly output: boolean;
  /** Weights plus KV cache that must fit in this device's memory. */
  readonly bytes: number;
}

/** The device of each of the `layers + 1` offloaded layers on `devices` GPUs with equal free memory. */
export function layerDevices(layers: number, devices: number): number[] {
  const splits = Array.from({ length: devices }, (_, i) => (i + 1) / devices);
  const act = layers + 1;
  return Array.from({ length: act }, (_, il) => {
    const x = il / act;
    const idx = splits.findIndex((s) => s > x);
    return idx === -1 ? devices - 1 : idx;
  });
}

/** Per-GPU bytes of a model fully offloaded with the layer split over `devices` identical GPUs. */
export function gpuLayerSplit(model: ModelSpec, kvCacheBytes: number, devices: number): GpuShare[] {
  const embedding = tokenEmbeddingBytes(model);
  const perLayer = (model.fileBytes - embedding) / model.layers + kvCacheBytes / model.layers;
  const placement = layerDevices(model.layers, devices);
  return Array.from({ length: devices }, (_, device) => {
    const mine = placement.slice(0, model.layers).flatMap((d, il) => (d === device ? [il] : []));
    const output = placement[model.layers] === device;
    const layers = mine.length > 0 ? { first: mine[0]!, last: mine[mine.length - 1]!, count: mine.length } : undefined;
    return { device, layers, output, bytes: Math.ceil(mine.length * perLayer + (output ? embedding : 0)) };
  });
}

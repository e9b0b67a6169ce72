/**
 * KV cache use of a chat engine, for the gateway-routing gauge `llm_kv_cache_usage_ratio`
 * (service/contract.ts `gatewayProtocolMetrics`).
 *
 * The Gateway API Inference Extension's model-server protocol asks for "the current KV cache utilization"
 * as a gauge, and its endpoint picker scores a replica `1 - value`
 * (kubernetes-sigs/gateway-api-inference-extension,
 * pkg/epp/framework/plugins/scheduling/scorer/kvcacheutilization/kvcache_utilization.go), so the value is a
 * fraction 0..1. Used cells are the tokens held by the sequences that are running a generation
 * (`nextTokenIndex`: the next free cell of that sequence); an idle sequence's kept prompt (PROMPT_CACHE) is
 * reusable by the next request or cleared by it, as vLLM counts cached blocks of finished requests as free.
 */

/** What this needs from a node-llama-cpp `LlamaContextSequence`. */
export interface KvCacheSequence {
  readonly contextSize: number;
  readonly nextTokenIndex: number;
}

/** `pool`: the engine's SlotPool of sequences (only its busy and idle items are read). */
export function kvCacheUse(pool: { busyItems(): readonly KvCacheSequence[]; idleItems(): readonly KvCacheSequence[] }): { usedCells: number; cells: number } {
  const busy = pool.busyItems();
  const all = [...busy, ...pool.idleItems()];
  const cells = all.reduce((sum, s) => sum + s.contextSize, 0);
  const usedCells = busy.reduce((sum, s) => sum + Math.min(s.nextTokenIndex, s.contextSize), 0);
  return { usedCells, cells };
}

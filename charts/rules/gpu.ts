import { parseQuantity } from '../lib/quantity.js';
import { selects, tolerates } from '../placement/index.js';
import { gpuLayerSplit } from '../sizing/gpu-split.js';
import { GiB, formatGiB as gib } from '../sizing/units.js';
import { fittingPools } from './lib.js';
import type { Rule } from './types.js';

/** Rules on GPU services: whole GPUs on GPU nodes, and the model's layer split over them. */
export const gpuRules: readonly Rule[] = [
  {
    id: 'gpu-scheduling',
    severity: 'error',
    checks: "GPU services request whole GPUs, tolerate the GPU nodes' taints and select GPU nodes; weights + KV cache fit in the GPU memory.",
    why: 'GPU pods scheduled onto CPU nodes (or never scheduled), and models that OOM the GPU at load.',
    fix: 'Declare gpu with a whole count and the GPU memory; lower contextSize or parallel, or use a bigger GPU.',
    check: (svc, env) => {
      const gpus = parseQuantity(svc.server.resources?.limits?.['nvidia.com/gpu']);
      if (!gpus) return [];
      const out: { message: string }[] = [];
      if (!Number.isInteger(gpus)) out.push({ message: `nvidia.com/gpu ${gpus} is not a whole number` });
      const gpuPools = env.cluster.nodePools.filter((p) => (p.gpus?.count ?? 0) > 0);
      if (gpuPools.length === 0) out.push({ message: `cluster ${env.cluster.name} has no GPU node pool` });
      if (gpuPools.length > 0 && !gpuPools.some((p) => tolerates(svc.pod, p))) out.push({ message: "no toleration for the GPU nodes' taints" });
      if (Object.keys(svc.pod.nodeSelector ?? {}).length === 0 || !gpuPools.some((p) => selects(svc.pod, p)))
        out.push({ message: 'the node selector does not select GPU nodes' });
      const poolMemory = Math.max(0, ...gpuPools.map((p) => p.gpus?.memoryGiB ?? 0));
      const declared = svc.plan.props.gpu?.memoryGiB ?? poolMemory;
      const available = gpus * Math.min(declared, poolMemory || declared) * GiB;
      if (svc.plan.memory.gpuBytes > available) out.push({ message: `weights + KV cache ${gib(svc.plan.memory.gpuBytes)} > GPU memory ${gib(available)}` });
      return out;
    },
  },
  {
    id: 'gpu-layer-split-fits',
    severity: 'error',
    checks:
      "A model split over several GPUs fits on each of them: llama.cpp's default layer split (LLAMA_SPLIT_MODE_LAYER, even split points on identical GPUs, the output layer on the last) places whole layers with their KV cache per GPU (charts/sizing/gpu-split.ts), and the fullest GPU must hold its share.",
    why: "A 2-GPU pod passed a check on the two GPUs' total, then failed to allocate on the GPU that got the output layer on top of its half of the layers.",
    fix: 'Lower contextSize or parallel (the KV cache), use GPUs with more memory, or request one more GPU.',
    check: (svc, env) => {
      const gpus = svc.plan.gpuCount;
      if (gpus < 2) return [];
      const gpuPools = fittingPools(svc, env).filter((p) => (p.gpus?.count ?? 0) >= gpus);
      const poolMemory = Math.max(0, ...gpuPools.map((p) => p.gpus?.memoryGiB ?? 0));
      const declared = svc.plan.props.gpu?.memoryGiB ?? poolMemory;
      const perGpu = Math.min(declared, poolMemory || declared) * GiB;
      const shares = gpuLayerSplit(svc.plan.props.model, svc.plan.memory.kvCacheBytes, gpus);
      const fullest = shares.reduce((a, b) => (b.bytes > a.bytes ? b : a));
      if (fullest.bytes <= perGpu) return [];
      const layout = shares
        .map((g) => `GPU ${g.device}: ${g.layers ? `layers ${g.layers.first}-${g.layers.last}` : 'no layers'}${g.output ? ' + output' : ''} ${gib(g.bytes)}`)
        .join(', ');
      return [
        {
          message: `${svc.plan.props.model.id} split over ${gpus} GPUs by layer (${layout}): GPU ${fullest.device} needs ${gib(fullest.bytes)} > ${gib(perGpu)} per GPU`,
        },
      ];
    },
  },
];

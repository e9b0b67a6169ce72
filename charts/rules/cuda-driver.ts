/**
 * The CUDA image's driver floor against the cluster's GPU nodes.
 *
 * The `runtime-cuda` image (Dockerfile) carries CUDA 13.1 runtime libraries, because the node-llama-cpp CUDA
 * binaries it keeps were compiled with nvcc 13.1 and link libcudart.so.13 / libcublas.so.13. NVIDIA's CUDA
 * images set NVIDIA_REQUIRE_CUDA=cuda>=13.1, so the NVIDIA container runtime refuses to start the container
 * on a node whose driver supports an older CUDA; with a driver of another major the llama.cpp CUDA backend
 * cannot load either way. The node's driver is known from GPU feature discovery's node label
 * `nvidia.com/cuda.driver.major` (GPU feature discovery, NVIDIA/k8s-device-plugin), which
 * `npm run cluster:capture` keeps among a pool's labels.
 */
import type { NodePool } from '../clusters/types.js';
import type { Rule } from './types.js';

/**
 * The CUDA release of the `runtime-cuda` image's base (Dockerfile CUDA_IMAGE) and the oldest Linux x86_64
 * driver NVIDIA lists for it (CUDA Toolkit Release Notes, table "CUDA Toolkit and Corresponding Driver
 * Versions": CUDA 13.1 GA >= 590.44.01). test/image/cuda-libraries.test.ts checks the Dockerfile still
 * names this release.
 */
export const cudaImageRequirement = { cuda: '13.1', minimumDriver: '590.44.01' } as const;

/** GPU feature discovery's label for the major version of the node's NVIDIA driver. */
export const driverMajorLabel = 'nvidia.com/cuda.driver.major';

/** The pool's NVIDIA driver major version, when its nodes carry the label; undefined when unknown. */
export function poolDriverMajor(pool: NodePool): number | undefined {
  const value = pool.labels[driverMajorLabel];
  return value === undefined || !/^\d+$/.test(value) ? undefined : Number(value);
}

const requiredMajor = Number(cudaImageRequirement.minimumDriver.split('.')[0]);

export const cudaDriverRules: Rule[] = [
  {
    id: 'cuda-driver-supports-image',
    // A warning, not an error: a pool's label gives only the driver's major version, and the profile may be
    // older than the nodes. The production profile (captured with driver 550) trips it today.
    severity: 'warning',
    checks: `A GPU service's cluster has GPU pools whose \`${driverMajorLabel}\` label is at least ${requiredMajor} (CUDA ${cudaImageRequirement.cuda} needs driver ${cudaImageRequirement.minimumDriver} or newer)`,
    why: 'The NVIDIA container runtime refuses to start the CUDA image on an older driver (the image sets NVIDIA_REQUIRE_CUDA=cuda>=13.1), so every GPU pod fails after the model download, and nothing in the manifests shows why.',
    fix: `Upgrade the GPU nodes' NVIDIA driver to ${cudaImageRequirement.minimumDriver} or newer (branch R${requiredMajor}+), then capture the cluster again (npm run cluster:capture).`,
    check: (svc, env) => {
      if (svc.requests.gpus === 0) return [];
      const old = env.cluster.nodePools.filter((p) => p.gpus !== undefined && (poolDriverMajor(p) ?? requiredMajor) < requiredMajor);
      return old.map((p) => ({
        message: `GPU pool ${p.name} in ${env.cluster.definedIn} runs NVIDIA driver ${poolDriverMajor(p)}.x (${driverMajorLabel}); the CUDA image (CUDA ${cudaImageRequirement.cuda}) needs ${cudaImageRequirement.minimumDriver} or newer`,
      }));
    },
  },
];

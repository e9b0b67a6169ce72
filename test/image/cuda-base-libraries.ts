/**
 * What the `runtime-cuda` target's base image provides, as documented by its makers, so a test can check
 * every library the kept llama.cpp binaries need (`readelf -d` NEEDED) without pulling the image.
 * Review this file whenever the Dockerfile's CUDA_IMAGE changes: the test refuses a base it does not name.
 */

export interface ProvidedLibraries {
  /** Who ships them and where that is written down. */
  readonly source: string;
  /** Shared-object names (SONAMEs) as a NEEDED entry names them. */
  readonly sonames: readonly string[];
}

export interface CudaBaseImage {
  /** The image reference the Dockerfile's CUDA_IMAGE must equal. */
  readonly image: string;
  /** CUDA version of its runtime libraries. */
  readonly cuda: { readonly major: number; readonly minor: number };
  /** glibc of its Ubuntu base: the newest GLIBC_x.y symbol version a binary may need. */
  readonly glibc: string;
  /** libstdc++ of its Ubuntu base: the newest GLIBCXX_x.y.z symbol version a binary may need. */
  readonly glibcxx: string;
  readonly provided: readonly ProvidedLibraries[];
}

export const cudaBaseImage: CudaBaseImage = {
  image: 'nvidia/cuda:13.1.0-runtime-ubuntu24.04',
  cuda: { major: 13, minor: 1 },
  // Ubuntu 24.04 (noble): libc6 2.39, libstdc++6 from GCC 14 (GLIBCXX_3.4.33); packages.ubuntu.com/noble.
  glibc: '2.39',
  glibcxx: '3.4.33',
  provided: [
    {
      source:
        'NVIDIA container-images/cuda, dist/13.1.0/ubuntu2404/base/Dockerfile (gitlab.com/nvidia/container-images/cuda): ' +
        'apt package cuda-cudart-13-1, the CUDA runtime',
      sonames: ['libcudart.so.13'],
    },
    {
      source:
        'NVIDIA container-images/cuda, dist/13.1.0/ubuntu2404/runtime/Dockerfile: apt packages cuda-libraries-13-1, ' +
        'libcublas-13-1, libcusparse-13-1, libnpp-13-1, cuda-nvtx-13-1, libnccl2 (cuBLAS ships libcublas and libcublasLt)',
      sonames: [
        'libcublas.so.13',
        'libcublasLt.so.13',
        'libcufft.so.12',
        'libcurand.so.10',
        'libcusolver.so.12',
        'libcusparse.so.12',
        'libnvrtc.so.13',
        'libnvJitLink.so.13',
        'libnvToolsExt.so.1',
        'libnccl.so.2',
      ],
    },
    {
      source:
        "NVIDIA Container Toolkit: the driver's CUDA library is bind-mounted from the node into every container that " +
        'requests the compute capability (NVIDIA/libnvidia-container src/nvc_info.c compute_libs; the CUDA images set ' +
        'NVIDIA_DRIVER_CAPABILITIES=compute,utility)',
      sonames: ['libcuda.so.1'],
    },
    {
      source: 'Ubuntu 24.04 base image: libc6 (glibc) and libstdc++6/libgcc-s1, which apt itself depends on',
      sonames: ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'librt.so.1', 'libpthread.so.0', 'ld-linux-x86-64.so.2', 'libstdc++.so.6', 'libgcc_s.so.1'],
    },
  ],
};

/** Byte units used by the sizing formulas. Binary units, as Kubernetes quantities `Mi`/`Gi` are. */
export const MiB = 1024 ** 2;
export const GiB = 1024 ** 3;

/** Round `bytes` up to a whole multiple of `step` bytes. */
export function roundUpBytes(bytes: number, step: number): number {
  return Math.ceil(bytes / step) * step;
}

/** Human-readable GiB with two decimals, for summaries and error messages. */
export function formatGiB(bytes: number): string {
  return `${(bytes / GiB).toFixed(2)} GiB`;
}

/** Millicores as cores for messages, trailing zeros dropped: `1.5 CPU`, `2 CPU`. */
export function formatCores(millis: number): string {
  return `${(millis / 1000).toFixed(2).replace(/\.?0+$/, '')} CPU`;
}

/** Kubernetes resource quantities as numbers: CPU in millicores, everything else in bytes/units. */
const binary: Record<string, number> = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 };
const decimal: Record<string, number> = { k: 1e3, M: 1e6, G: 1e9, T: 1e12 };

export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q.trim());
  if (!m) throw new Error(`unparseable quantity "${q}"`);
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === undefined) return n;
  if (unit === 'm') return n / 1000;
  return n * (binary[unit] ?? decimal[unit] ?? 1);
}

/** CPU quantity in millicores. */
export function cpuMillis(q: string | number | undefined): number {
  const cores = parseQuantity(q);
  return cores === undefined ? 0 : Math.round(cores * 1000);
}

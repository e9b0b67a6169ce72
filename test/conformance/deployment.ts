/**
 * Reads the committed Deployments (dist/<env>/*.yaml) and resolves their containers the way the
 * kubelet would before starting them: env values including downward-API references, $(VAR)
 * expansion in command/args, probes with Kubernetes defaults, the preStop hook and the pod's
 * terminationGracePeriodSeconds.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface DeploymentFile {
  /** e.g. `dist/staging/chat-gpu.yaml` */
  file: string;
  /** e.g. `staging/chat-gpu` (Deployment name may repeat across environments). */
  label: string;
  deployment: IDeployment;
}

/** Every Deployment committed under dist/, sorted by file. */
export function findDeployments(root: string = repoRoot): DeploymentFile[] {
  const dist = path.join(root, 'dist');
  const out: DeploymentFile[] = [];
  for (const env of readdirSync(dist, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort()) {
    for (const name of readdirSync(path.join(dist, env))
      .filter((f) => /\.ya?ml$/.test(f))
      .sort()) {
      const file = path.join('dist', env, name);
      const docs = parseAllDocuments(readFileSync(path.join(root, file), 'utf8'));
      for (const doc of docs) {
        if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message ?? 'YAML error'}`);
        const obj = doc.toJSON() as { kind?: string; apiVersion?: string } | null;
        if (obj?.kind === 'Deployment' && obj.apiVersion === 'apps/v1') {
          const deployment = obj as IDeployment;
          // The scale-to-zero failover responder serves no model (test/service/failover.test.ts covers it).
          if (deployment.metadata?.labels?.['app.kubernetes.io/component'] === 'failover') continue;
          out.push({ file, label: `${env}/${deployment.metadata?.name ?? name}`, deployment });
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Quantities and the downward API
// ---------------------------------------------------------------------------------------------

const suffixes: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** Parses a Kubernetes quantity ("2000m", "3200Mi", "1", "1e3") to a plain number. */
export function parseQuantity(q: string | number): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/.exec(q.trim());
  if (!m) throw new Error(`not a Kubernetes quantity: ${JSON.stringify(q)}`);
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  return base * (suffixes[m[3] ?? ''] ?? 1);
}

/**
 * The value of a `resourceFieldRef`, as the kubelet computes it: the quantity divided by the divisor,
 * ROUNDED UP (kubelet `convertResourceCPUToString`: ceil(milliValue / divisor.milliValue)).
 * A missing request defaults to the limit (API-server defaulting); a missing limit has no node to
 * fall back to here, so it is an error.
 */
export function resolveResourceFieldRef(container: IContainer, resource: string, divisor: string | number | undefined): string {
  const [kind, name] = resource.split('.', 2) as [string, string | undefined];
  if ((kind !== 'requests' && kind !== 'limits') || name === undefined) throw new Error(`unsupported resourceFieldRef ${resource}`);
  const requests = container.resources?.requests ?? {};
  const limits = container.resources?.limits ?? {};
  const raw = kind === 'requests' ? (requests[name] ?? limits[name]) : limits[name];
  if (raw === undefined) {
    if (kind === 'requests') return '0';
    throw new Error(`${container.name}: resourceFieldRef ${resource} has no limit set (the kubelet would use node allocatable)`);
  }
  const value = parseQuantity(raw);
  const div = parseQuantity(divisor ?? 1);
  if (div <= 0) throw new Error(`divisor ${String(divisor)} must be positive`);
  // Work in milli-units like the kubelet, so 2000m / 1 = 2 exactly and 2001m / 1 = 3.
  return String(Math.ceil(Math.round(value * 1000) / Math.round(div * 1000)));
}

// ---------------------------------------------------------------------------------------------
// Containers as the kubelet starts them
// ---------------------------------------------------------------------------------------------

export interface ResolvedEnvVar {
  name: string;
  value: string;
  /** Where the value came from when it was not a literal, e.g. `resourceFieldRef requests.cpu (2000m, divisor 1)`. */
  from?: string;
}

export interface ProbeSpec {
  kind: 'startup' | 'readiness' | 'liveness';
  path: string;
  port: number;
  scheme: 'HTTP' | 'HTTPS';
  headers: Record<string, string>;
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ResolvedContainer {
  name: string;
  command: string[];
  env: ResolvedEnvVar[];
  ports: { name?: string; containerPort: number }[];
  startupProbe?: ProbeSpec;
  readinessProbe?: ProbeSpec;
  livenessProbe?: ProbeSpec;
  /** The preStop exec command, when there is one. */
  preStop?: string[];
  raw: IContainer;
}

export interface ResolvedPod {
  label: string;
  file: string;
  initContainers: ResolvedContainer[];
  containers: ResolvedContainer[];
  terminationGracePeriodSeconds: number;
  restartPolicy: string;
}

/** `$(VAR)` expansion as in the kubelet: unknown references stay as they are, `$$` escapes. */
export function expandVars(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === '$$') return '$';
    return name !== undefined && env.has(name) ? (env.get(name) as string) : match;
  });
}

function resolveEnv(container: IContainer, pod: { name: string; namespace: string }): ResolvedEnvVar[] {
  const out: ResolvedEnvVar[] = [];
  const seen = new Map<string, string>();
  for (const e of container.env ?? []) {
    let value: string;
    let from: string | undefined;
    if (e.valueFrom?.resourceFieldRef) {
      const ref = e.valueFrom.resourceFieldRef;
      if (ref.containerName !== undefined && ref.containerName !== container.name) {
        throw new Error(`${container.name}: env ${e.name} refers to container ${ref.containerName}; not supported`);
      }
      value = resolveResourceFieldRef(container, ref.resource, ref.divisor);
      const [kind, name] = ref.resource.split('.', 2) as [string, string];
      const raw = (kind === 'requests' ? container.resources?.requests?.[name] : undefined) ?? container.resources?.limits?.[name];
      from = `resourceFieldRef ${ref.resource} (${String(raw)}, divisor ${String(ref.divisor ?? 1)}, rounded up)`;
    } else if (e.valueFrom?.fieldRef) {
      const fp = e.valueFrom.fieldRef.fieldPath;
      const fields: Record<string, string> = {
        'metadata.name': `${pod.name}-conformance`,
        'metadata.namespace': pod.namespace,
        'status.podIP': '127.0.0.1',
        'status.hostIP': '127.0.0.1',
        'spec.nodeName': 'conformance-node',
        'spec.serviceAccountName': 'default',
      };
      const v = fields[fp];
      if (v === undefined) throw new Error(`${container.name}: env ${e.name} fieldRef ${fp} not supported by the harness`);
      value = v;
      from = `fieldRef ${fp}`;
    } else if (e.valueFrom?.secretKeyRef || e.valueFrom?.configMapKeyRef) {
      // The cluster's Secret / ConfigMap is not here: a recognisable stand-in value (noted in the timeline).
      const ref = (e.valueFrom.secretKeyRef ?? e.valueFrom.configMapKeyRef) as { name?: string; key: string };
      const kind = e.valueFrom.secretKeyRef ? 'secretKeyRef' : 'configMapKeyRef';
      value = `conformance-${ref.name ?? 'unnamed'}-${ref.key}`;
      from = `${kind} ${ref.name ?? ''}/${ref.key} (stand-in value)`;
    } else if (e.valueFrom) {
      throw new Error(`${container.name}: env ${e.name} uses ${Object.keys(e.valueFrom).join(',')}; not supported by the harness`);
    } else {
      value = expandVars(e.value ?? '', seen);
    }
    seen.set(e.name, value);
    out.push(from === undefined ? { name: e.name, value } : { name: e.name, value, from });
  }
  return out;
}

function resolvePort(container: IContainer, port: number | string): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const hit = container.ports?.find((p) => p.name === port);
  if (!hit) throw new Error(`${container.name}: probe port ${port} is not a named container port`);
  return hit.containerPort;
}

function resolveProbe(container: IContainer, kind: ProbeSpec['kind'], probe: IProbe | undefined): ProbeSpec | undefined {
  if (probe === undefined) return undefined;
  if (!probe.httpGet) {
    throw new Error(`${container.name}: ${kind} probe is not httpGet (${Object.keys(probe).join(',')}); the harness plays HTTP probes only`);
  }
  const headers: Record<string, string> = {};
  for (const h of probe.httpGet.httpHeaders ?? []) headers[h.name] = h.value;
  // Kubernetes defaults: period 10, timeout 1, success 1, failure 3, delay 0.
  return {
    kind,
    path: probe.httpGet.path ?? '/',
    port: resolvePort(container, probe.httpGet.port),
    scheme: (probe.httpGet.scheme ?? 'HTTP') as 'HTTP' | 'HTTPS',
    headers,
    initialDelaySeconds: probe.initialDelaySeconds ?? 0,
    periodSeconds: probe.periodSeconds ?? 10,
    timeoutSeconds: probe.timeoutSeconds ?? 1,
    successThreshold: probe.successThreshold ?? 1,
    failureThreshold: probe.failureThreshold ?? 3,
  };
}

function resolveContainer(c: IContainer, pod: { name: string; namespace: string }): ResolvedContainer {
  const env = resolveEnv(c, pod);
  const envMap = new Map(env.map((e) => [e.name, e.value]));
  const command = [...(c.command ?? []), ...(c.args ?? [])].map((a) => expandVars(a, envMap));
  if (command.length === 0) throw new Error(`${c.name}: no command/args; the image CMD is not modelled by the harness`);
  const preStop = c.lifecycle?.preStop;
  if (preStop && !preStop.exec) throw new Error(`${c.name}: preStop is not exec (${Object.keys(preStop).join(',')}); not supported`);
  const resolved: ResolvedContainer = {
    name: c.name,
    command,
    env,
    ports: (c.ports ?? []).map((p) => (p.name === undefined ? { containerPort: p.containerPort } : { name: p.name, containerPort: p.containerPort })),
    raw: c,
  };
  const startup = resolveProbe(c, 'startup', c.startupProbe);
  const readiness = resolveProbe(c, 'readiness', c.readinessProbe);
  const liveness = resolveProbe(c, 'liveness', c.livenessProbe);
  if (startup) resolved.startupProbe = startup;
  if (readiness) resolved.readinessProbe = readiness;
  if (liveness) resolved.livenessProbe = liveness;
  if (preStop?.exec?.command) resolved.preStop = [...preStop.exec.command];
  return resolved;
}

/** Resolves a Deployment's pod template into what the kubelet would run. */
export function resolvePod(d: DeploymentFile): ResolvedPod {
  const spec = d.deployment.spec?.template.spec;
  if (!spec) throw new Error(`${d.file}: Deployment has no pod template spec`);
  const pod = { name: d.deployment.metadata?.name ?? 'pod', namespace: d.deployment.metadata?.namespace ?? 'default' };
  return {
    label: d.label,
    file: d.file,
    initContainers: (spec.initContainers ?? []).map((c) => resolveContainer(c, pod)),
    containers: spec.containers.map((c) => resolveContainer(c, pod)),
    // Kubernetes default: 30 s.
    terminationGracePeriodSeconds: spec.terminationGracePeriodSeconds ?? 30,
    restartPolicy: spec.restartPolicy ?? 'Always',
  };
}

export function envValue(c: ResolvedContainer, name: string): string | undefined {
  return c.env.find((e) => e.name === name)?.value;
}

/** Deep copy of a Deployment, for tests and demos that break one in memory. */
export function cloneDeployment(d: DeploymentFile): DeploymentFile {
  return { ...d, deployment: structuredClone(d.deployment) };
}

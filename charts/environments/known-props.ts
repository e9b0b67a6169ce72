import type {
  AutoscalingProps,
  ExposureProps,
  GpuProps,
  ModelCacheProps,
  NodeAffinityProps,
  ProbeTimingOverride,
  ScaleToZeroProps,
  SchedulingProps,
  ServiceOverrides,
} from '../constructs/props.js';
import type { ContainerResourceFigures, LimitRangeProps, NamespaceQuotaProps } from '../constructs/namespace-budget.js';
import type { CompanionDeclaration, HelmCompanionSource, ManifestsCompanionSource } from '../companions/types.js';
import { ChartConfigError, type ConfigProblem } from '../lib/config-error.js';
import type { Environment, ServiceDeclaration } from './types.js';

/**
 * `npm run synth` runs through tsx, which strips types without checking them, so a misspelt prop
 * in an environment file (`contextsize`) would be silently ignored and its default used. This
 * checks every key of every environment and service against the keys the props interfaces declare.
 * The key lists are typed against those interfaces: adding or renaming a prop without listing it
 * here fails `npm run typecheck`.
 */

/** A prop whose value is not checked further (numbers, strings, arrays, catalogue entries). */
type Leaf = 'value';
/** An object with free keys (labels, waivers by rule id). */
type FreeMap = 'map';
interface ObjectShape {
  readonly fields: Readonly<Record<string, Shape>>;
}
/** A union discriminated by `kind`: each variant has its own keys. */
interface UnionShape {
  readonly variants: Readonly<Record<string, ObjectShape>>;
}
type Shape = Leaf | FreeMap | ObjectShape | UnionShape;

/** Every key of T (optional ones included), each mapped to its shape: missing or extra keys do not compile. */
function shape<T>(fields: { readonly [K in keyof Required<T>]: Shape }): ObjectShape {
  return { fields };
}

type Variant<U, K extends string> = Extract<U, { readonly kind: K }>;

const probeTiming = shape<ProbeTimingOverride>({
  path: 'value',
  periodSeconds: 'value',
  failureThreshold: 'value',
  timeoutSeconds: 'value',
  initialDelaySeconds: 'value',
});

const overrides = shape<ServiceOverrides>({
  strategy: 'value',
  startupProbe: probeTiming,
  readinessProbe: probeTiming,
  livenessProbe: shape<NonNullable<ServiceOverrides['livenessProbe']>>({
    path: 'value',
    periodSeconds: 'value',
    failureThreshold: 'value',
    timeoutSeconds: 'value',
    initialDelaySeconds: 'value',
    exec: 'value',
  }),
  disruptionBudget: shape<NonNullable<ServiceOverrides['disruptionBudget']>>({
    minAvailable: 'value',
    maxUnavailable: 'value',
    unhealthyPodEvictionPolicy: 'value',
  }),
  cpuLimit: 'value',
  memoryRequestMiB: 'value',
  memoryLimitMiB: 'value',
  ephemeralStorageGiB: 'value',
  threads: 'value',
  terminationGracePeriodSeconds: 'value',
  progressDeadlineSeconds: 'value',
  sseKeepAliveSeconds: 'value',
  securityContext: shape<NonNullable<ServiceOverrides['securityContext']>>({
    runAsNonRoot: 'value',
    readOnlyRootFilesystem: 'value',
    allowPrivilegeEscalation: 'value',
    dropAllCapabilities: 'value',
  }),
});

const modelCache: UnionShape = {
  variants: {
    persistentVolumeClaim: shape<Variant<ModelCacheProps, 'persistentVolumeClaim'>>({
      kind: 'value',
      storageClassName: 'value',
      accessMode: 'value',
      sizeGiB: 'value',
      readMiBps: 'value',
    }),
    emptyDir: shape<Variant<ModelCacheProps, 'emptyDir'>>({ kind: 'value', sizeGiB: 'value', readMiBps: 'value' }),
  },
};

const exposure: UnionShape = {
  variants: {
    'cluster-ip': shape<Variant<ExposureProps, 'cluster-ip'>>({ kind: 'value' }),
    'load-balancer': shape<Variant<ExposureProps, 'load-balancer'>>({ kind: 'value', provider: 'value', internal: 'value', addressPool: 'value' }),
    ingress: shape<Variant<ExposureProps, 'ingress'>>({
      kind: 'value',
      host: 'value',
      className: 'value',
      tlsSecretName: 'value',
      internal: 'value',
      annotations: 'map',
    }),
  },
};

/** The keys a service declaration may have. */
export const serviceShape = shape<ServiceDeclaration>({
  model: 'value',
  image: 'value',
  replicas: 'value',
  contextSize: 'value',
  parallel: 'value',
  batchSize: 'value',
  cpu: 'value',
  gpu: shape<GpuProps>({ count: 'value', memoryGiB: 'value', nodeSelector: 'map', taintKey: 'value' }),
  modelCache,
  downloadMiBps: 'value',
  requestTimeoutSeconds: 'value',
  maxQueue: 'value',
  maxCompletionLength: 'value',
  exposure,
  pathIdleTimeoutsSeconds: 'value',
  autoscaling: shape<AutoscalingProps>({
    minReplicas: 'value',
    maxReplicas: 'value',
    signal: 'value',
    targetCapacityFraction: 'value',
    targetCpuUtilizationPercent: 'value',
  }),
  scaleToZero: shape<ScaleToZeroProps>({ idleAfter: 'value' }),
  monitoring: 'value',
  slowTimeToFirstTokenSeconds: 'value',
  huggingFace: shape<NonNullable<ServiceDeclaration['huggingFace']>>({
    tokenSecret: shape<NonNullable<NonNullable<ServiceDeclaration['huggingFace']>['tokenSecret']>>({ name: 'value', key: 'value' }),
    endpoint: 'value',
  }),
  apiKeySecret: shape<NonNullable<ServiceDeclaration['apiKeySecret']>>({ name: 'value', key: 'value' }),
  corsOrigins: 'value',
  allowedClientNamespaces: 'value',
  monitoringNamespace: 'value',
  preStopSeconds: 'value',
  revisionHistoryLimit: 'value',
  overrides,
  waivers: 'map',
  scheduling: shape<SchedulingProps>({
    tolerations: 'value',
    nodeSelector: 'map',
    nodeAffinity: shape<NodeAffinityProps>({ required: 'value', preferred: 'value' }),
    capacityType: 'value',
    priorityClassName: 'value',
    runtimeClassName: 'value',
    topologySpread: shape<NonNullable<SchedulingProps['topologySpread']>>({ zones: 'value', nodes: 'value' }),
  }),
  serviceKind: 'value',
});

const containerFigures = shape<ContainerResourceFigures>({ cpu: 'value', memoryMiB: 'value', ephemeralStorageMiB: 'value' });

/** The keys of one companion (charts/companions/types.ts); values, env and labels have free keys. */
const companionShape = shape<CompanionDeclaration>({
  source: {
    variants: {
      helm: shape<HelmCompanionSource>({
        kind: 'value',
        repoURL: 'value',
        chart: 'value',
        version: 'value',
        releaseName: 'value',
        values: 'map',
        renders: 'value',
        callerPodLabels: 'map',
      }),
      manifests: shape<ManifestsCompanionSource>({ kind: 'value', path: 'value', env: 'map' }),
    },
  },
  order: 'value',
  waivers: 'map',
});

/** The keys an environment may have (`services` is checked per service). */
export const environmentShape = shape<Environment>({
  name: 'value',
  definedIn: 'value',
  namespace: 'value',
  clusterName: 'value',
  cluster: 'value',
  image: 'value',
  production: 'value',
  imagePullSecrets: 'value',
  services: 'map',
  companions: 'map',
  quota: shape<NamespaceQuotaProps>({
    cpu: 'value',
    memoryGiB: 'value',
    gpus: 'value',
    ephemeralStorageGiB: 'value',
    pods: 'value',
    storageGiB: 'value',
    persistentVolumeClaims: 'value',
  }),
  limitRange: shape<LimitRangeProps>({
    maxPerContainer: containerFigures,
    minPerContainer: containerFigures,
    defaultRequest: containerFigures,
    defaultLimit: shape<NonNullable<LimitRangeProps['defaultLimit']>>({ memoryMiB: 'value', ephemeralStorageMiB: 'value' }),
  }),
});

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Edit distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

function suggestion(key: string, known: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const exact = known.find((k) => k.toLowerCase() === lower);
  if (exact) return exact;
  const ranked = known.map((k) => [k, distance(lower, k.toLowerCase())] as const).sort((x, y) => x[1] - y[1]);
  const best = ranked[0];
  return best && best[1] <= Math.max(2, Math.floor(key.length / 4)) ? best[0] : undefined;
}

interface Where {
  readonly file: string;
  readonly object: string;
}

function check(value: unknown, s: Shape, path: string, where: Where, out: ConfigProblem[]): void {
  if (s === 'value' || s === 'map' || !isPlainObject(value)) return;
  if ('variants' in s) {
    const kind = value.kind;
    const variant = typeof kind === 'string' ? s.variants[kind] : undefined;
    if (variant === undefined) {
      const kinds = Object.keys(s.variants);
      out.push({
        ...where,
        field: `${path}.kind`,
        problem: `unknown kind ${JSON.stringify(kind)}`,
        fix: `use one of ${kinds.map((k) => `'${k}'`).join(', ')}`,
      });
      return;
    }
    check(value, variant, path, where, out);
    return;
  }
  const known = Object.keys(s.fields);
  for (const [key, v] of Object.entries(value)) {
    const field = path === '' ? key : `${path}.${key}`;
    const sub = s.fields[key];
    if (sub === undefined) {
      const guess = suggestion(key, known);
      out.push({
        ...where,
        field,
        problem: `unknown prop "${key}" (it would be ignored and its default used)`,
        fix: guess ? `did you mean "${guess}"?` : `remove it, or use one of: ${known.join(', ')}`,
      });
      continue;
    }
    check(v, sub, field, where, out);
  }
}

/** Every unknown key in an environment and its services, or none. */
export function unknownProps(env: Environment): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  check(env, environmentShape, '', { file: env.definedIn, object: env.name }, out);
  for (const [name, declaration] of Object.entries(env.services)) {
    check(declaration, serviceShape, '', { file: env.definedIn, object: `${env.name}/${name}` }, out);
  }
  for (const [name, declaration] of Object.entries(env.companions ?? {})) {
    check(declaration, companionShape, '', { file: env.definedIn, object: `${env.name}/companions/${name}` }, out);
  }
  return out;
}

/** Throw ChartConfigError naming the file, the service and the field of every unknown prop. */
export function assertKnownProps(env: Environment): void {
  const problems = unknownProps(env);
  if (problems.length > 0) throw new ChartConfigError(problems);
}

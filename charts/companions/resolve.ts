/**
 * Companions resolved against the environment they belong to: references replaced by what the synthesized model
 * services say (charts/companions/references.ts), plain manifests read, checked and namespaced, and the facts the
 * AppProject, the Applications and the rules need (kinds, Helm repositories, the pods that call model services).
 * Every mistake is collected and thrown at once as a ChartConfigError naming the environment file, the companion
 * and the field.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseModelRef } from '../../service/model/ref.js';
import type { Environment } from '../environments/types.js';
import type { InferenceServicePlan } from '../sizing/plan.js';
import { ChartConfigError, type ConfigProblem } from '../lib/config-error.js';
import type { NetworkPolicyObject } from './network-reach.js';
import { ModelServiceReference } from './references.js';
import type { CompanionDeclaration, CompanionKind, HelmValue } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- companion manifests are unstructured JSON until checked */

/** The repository root: manifest paths are relative to it. */
const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** What a reference needs to know about one model service, read from its synthesized objects. */
export interface ModelServiceFacts {
  readonly name: string;
  readonly namespace: string;
  /** The Service's port (what the URL names). */
  readonly port: number;
  /** The serving container's port (what NetworkPolicies match). */
  readonly targetPort: number;
  /** Labels of the model service's pods. */
  readonly podLabels: Readonly<Record<string, string>>;
  /** The model's `source`, from which the served model id follows. */
  readonly modelSource: string;
  readonly apiKeySecret: { readonly name: string; readonly key: string } | undefined;
  /** Its NetworkPolicies (the ingress side of every call). */
  readonly networkPolicies: readonly NetworkPolicyObject[];
}

/** What a companion's references and the reachability rule read about a model service, from its synthesized objects. */
export function modelServiceFacts(objects: readonly unknown[], plan: InferenceServicePlan): ModelServiceFacts {
  const all = objects as any[];
  const service = all.find((o) => o?.kind === 'Service');
  const deployment = all.find((o) => o?.kind === 'Deployment');
  const port = service?.spec?.ports?.[0];
  return {
    name: plan.name,
    namespace: String(service?.metadata?.namespace ?? deployment?.metadata?.namespace),
    port: Number(port?.port),
    targetPort: Number(port?.targetPort ?? port?.port),
    podLabels: deployment?.spec?.template?.metadata?.labels ?? {},
    modelSource: plan.props.model.source,
    apiKeySecret: plan.props.apiKeySecret,
    networkPolicies: all.filter((o): o is NetworkPolicyObject => o?.kind === 'NetworkPolicy'),
  };
}

/** A workload of a companion whose pods call model services. */
export interface CompanionCaller {
  /** `Kind/name` of the workload, or `chart <name>` for a Helm chart's declared pods. */
  readonly workload: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** One container image a companion's manifests run. */
export interface CompanionImage {
  readonly workload: string;
  readonly container: string;
  readonly image: string;
}

export interface ResolvedCompanion {
  readonly name: string;
  readonly declaration: CompanionDeclaration;
  readonly namespace: string;
  /** Manifests companions: the synthesized files (file name -> objects), written to `outputDir`. */
  readonly files: ReadonlyMap<string, readonly Record<string, unknown>[]>;
  /** Repository-relative directory the Application syncs (manifests companions). */
  readonly outputDir: string | undefined;
  /** Helm companions: the values with every reference resolved. */
  readonly helmValues: Record<string, unknown> | undefined;
  /** The kinds it deploys (the AppProject admits them). */
  readonly kinds: readonly CompanionKind[];
  /** Its workloads that call model services, and the model services each calls. */
  readonly callers: ReadonlyArray<CompanionCaller & { readonly calls: readonly string[] }>;
  /** NetworkPolicies among its own manifests (the egress side of every call). */
  readonly networkPolicies: readonly NetworkPolicyObject[];
  /** Pod specs of its manifests' workloads, by `Kind/name` (Pod Security is checked on them). */
  readonly pods: ReadonlyArray<{ readonly workload: string; readonly pod: any }>;
  readonly images: readonly CompanionImage[];
}

/** Kinds that are not namespaced: a companion may not create them (the AppProject admits only the environment's Namespace). */
const clusterScopedKinds = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'PriorityClass',
  'IngressClass',
  'RuntimeClass',
  'CSIDriver',
  'VolumeAttachment',
  'CertificateSigningRequest',
  'APIService',
  'ValidatingWebhookConfiguration',
  'MutatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'PodSecurityPolicy',
]);

/** An exact SemVer 2.0 version (semver.org): what Helm resolves a range against, so a range is refused. */
const exactVersion = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
/** A DNS-1123 label: the companion's name becomes an Application and Helm release name. */
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The model id the service serves: its file name without `.gguf` (service/inference/engine.ts `modelId`, the file under MODEL_CACHE_DIR named by service/server.ts). */
export function servedModelId(modelSource: string): string {
  const source = parseModelRef(modelSource);
  const file = source.kind === 'local' ? basename(source.path) : source.fileName;
  return file.replace(/\.gguf$/i, '');
}

/** The pod template of a workload object, or undefined for anything that runs no pods. */
export function podTemplateOf(o: any): { metadata?: { labels?: Record<string, string> }; spec?: any } | undefined {
  if (o?.kind === 'CronJob') return o.spec?.jobTemplate?.spec?.template;
  if (['Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job'].includes(o?.kind)) return o.spec?.template;
  return undefined;
}

const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

interface Context {
  readonly env: Environment;
  readonly companion: string;
  readonly services: ReadonlyMap<string, ModelServiceFacts>;
  readonly problems: ConfigProblem[];
}

function problem(ctx: Context, field: string, text: string, fix: string): void {
  ctx.problems.push({ file: ctx.env.definedIn, object: `${ctx.env.name}/companions/${ctx.companion}`, field, problem: text, fix });
}

/** A reference's value, or undefined after recording why it cannot be resolved. */
function resolveReference(
  ctx: Context,
  field: string,
  r: ModelServiceReference,
  where: 'env' | 'helm',
): string | { secretKeyRef: { name: string; key: string } } | undefined {
  const facts = ctx.services.get(r.service);
  if (facts === undefined) {
    problem(
      ctx,
      field,
      `${r.toString()} names model service "${r.service}", which environment ${ctx.env.name} does not declare (have: ${[...ctx.services.keys()].join(', ') || 'none'})`,
      `name a service of ${ctx.env.name}'s services, or declare "${r.service}" there`,
    );
    return undefined;
  }
  const url = `http://${facts.name}.${facts.namespace}.svc:${facts.port}`;
  switch (r.attribute) {
    case 'url':
      return url;
    case 'openaiBaseUrl':
      return `${url}/v1`;
    case 'modelId':
      return servedModelId(facts.modelSource);
    case 'apiKey':
    case 'apiKeySecretName':
    case 'apiKeySecretKey': {
      if (facts.apiKeySecret === undefined) {
        problem(
          ctx,
          field,
          `${r.toString()}: model service "${r.service}" has no apiKeySecret, so there is no API key to pass`,
          `set apiKeySecret on services.${r.service}, or drop the reference (its NetworkPolicy is then the only gate)`,
        );
        return undefined;
      }
      if (r.attribute === 'apiKeySecretName') return facts.apiKeySecret.name;
      if (r.attribute === 'apiKeySecretKey') return facts.apiKeySecret.key;
      if (where === 'helm') {
        problem(
          ctx,
          field,
          `${r.toString()} is the key itself, which a Helm value cannot hold without copying the Secret into Git`,
          `pass ref.service('${r.service}').apiKeySecretName and .apiKeySecretKey to the chart's existing-Secret values instead`,
        );
        return undefined;
      }
      return { secretKeyRef: { ...facts.apiKeySecret } };
    }
  }
}

/** Helm values with every reference replaced; records the services referenced. */
function resolveValues(ctx: Context, value: HelmValue, path: string, calls: Set<string>): unknown {
  if (value instanceof ModelServiceReference) {
    calls.add(value.service);
    return resolveReference(ctx, path, value, 'helm');
  }
  if (Array.isArray(value)) return value.map((v: HelmValue, i: number) => resolveValues(ctx, v, `${path}[${i}]`, calls));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value as Record<string, HelmValue>).map(([k, v]) => [k, resolveValues(ctx, v, `${path}.${k}`, calls)]));
  }
  return value;
}

function resolveHelm(ctx: Context, name: string, declaration: CompanionDeclaration): ResolvedCompanion | undefined {
  const source = declaration.source;
  if (source.kind !== 'helm') return undefined;
  if (!/^https:\/\/[^\s/]+/.test(source.repoURL))
    problem(
      ctx,
      'source.repoURL',
      `"${source.repoURL}" is not an https chart repository URL`,
      'use the https URL `helm repo add` takes, e.g. https://qdrant.github.io/qdrant-helm',
    );
  if (!exactVersion.test(source.version))
    problem(
      ctx,
      'source.version',
      `"${source.version}" is not one exact chart version: a range lets the chart repository change what is deployed without a commit here`,
      'pin the exact version (`helm search repo <repo>/<chart> --versions` lists them)',
    );
  if (source.renders.length === 0)
    problem(
      ctx,
      'source.renders',
      'lists no kind: the AppProject would refuse every object of the chart',
      'list every kind `helm template` renders with these values',
    );
  for (const [i, k] of source.renders.entries())
    if (clusterScopedKinds.has(k.kind))
      problem(
        ctx,
        `source.renders[${i}]`,
        `${k.kind} is cluster-scoped; the project admits no cluster-scoped object but the environment's Namespace`,
        'turn it off in the chart values (install cluster-wide parts with the cluster, listed in docs/prerequisites.md)',
      );
  const calls = new Set<string>();
  const values = resolveValues(ctx, source.values ?? {}, 'source.values', calls) as Record<string, unknown>;
  if (calls.size > 0 && source.callerPodLabels === undefined)
    problem(
      ctx,
      'source.callerPodLabels',
      `the values reference model service(s) ${[...calls].join(', ')}, but the labels of the chart's calling pods are not declared, so no NetworkPolicy can be checked for them`,
      "set callerPodLabels to the labels the chart's templates put on those pods",
    );
  return {
    name,
    declaration,
    namespace: ctx.env.namespace,
    files: new Map(),
    outputDir: undefined,
    helmValues: values,
    kinds: source.renders,
    callers:
      source.callerPodLabels !== undefined && calls.size > 0
        ? [{ workload: `chart ${source.chart}`, labels: source.callerPodLabels, calls: [...calls].sort() }]
        : [],
    networkPolicies: [],
    pods: [],
    images: [],
  };
}

function readManifests(ctx: Context, path: string): Map<string, any[]> | undefined {
  const dir = join(repositoryRoot, path);
  if (path.startsWith('/') || path.split('/').includes('..') || !existsSync(dir) || !statSync(dir).isDirectory()) {
    problem(
      ctx,
      'source.path',
      `"${path}" is not a directory of this repository`,
      `create it (e.g. companions/${ctx.env.name}/${ctx.companion}/) with the companion's .yaml files`,
    );
    return undefined;
  }
  const files = new Map<string, any[]>();
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    const docs = parseAllDocuments(readFileSync(join(dir, file), 'utf8'));
    const objects: any[] = [];
    for (const [i, d] of docs.entries()) {
      if (d.errors.length > 0) {
        problem(ctx, `source.path (${path}/${file}, document ${i + 1})`, `is not valid YAML: ${d.errors[0]!.message.split('\n')[0]}`, 'fix the YAML');
        continue;
      }
      const o = d.toJSON() as unknown;
      if (o === null || o === undefined) continue;
      objects.push(o);
    }
    files.set(file, objects);
  }
  if ([...files.values()].every((o) => o.length === 0)) {
    problem(ctx, 'source.path', `"${path}" holds no Kubernetes object in a .yaml file`, "add the companion's manifests, or remove the companion");
    return undefined;
  }
  return files;
}

function resolveManifests(ctx: Context, name: string, declaration: CompanionDeclaration): ResolvedCompanion | undefined {
  const source = declaration.source;
  if (source.kind !== 'manifests') return undefined;
  const read = readManifests(ctx, source.path);
  if (read === undefined) return undefined;
  const kinds: CompanionKind[] = [];
  const networkPolicies: NetworkPolicyObject[] = [];
  const pods: { workload: string; pod: any }[] = [];
  const images: CompanionImage[] = [];
  const callers: (CompanionCaller & { calls: string[] })[] = [];
  const containersSeen = new Set<string>();
  const files = new Map<string, Record<string, unknown>[]>();
  for (const [file, objects] of read) {
    const out: Record<string, unknown>[] = [];
    for (const original of objects) {
      const o = structuredClone(original);
      const at = `source.path (${source.path}/${file})`;
      if (typeof o?.apiVersion !== 'string' || typeof o?.kind !== 'string' || typeof o?.metadata?.name !== 'string') {
        problem(ctx, at, 'holds an object without apiVersion, kind and metadata.name', 'write each document as a complete Kubernetes object');
        continue;
      }
      const id = `${o.kind}/${o.metadata.name}`;
      if (clusterScopedKinds.has(o.kind)) {
        problem(
          ctx,
          `${at} ${id}`,
          `${o.kind} is cluster-scoped; the project admits no cluster-scoped object but the environment's Namespace`,
          'install it with the cluster instead',
        );
        continue;
      }
      if (o.metadata.namespace !== undefined && o.metadata.namespace !== ctx.env.namespace) {
        problem(
          ctx,
          `${at} ${id}: metadata.namespace`,
          `is "${o.metadata.namespace}", but companions deploy into the environment's namespace ${ctx.env.namespace}`,
          'remove metadata.namespace (synth sets it)',
        );
        continue;
      }
      o.metadata.namespace = ctx.env.namespace;
      const group = groupOf(o.apiVersion);
      if (!kinds.some((k) => k.group === group && k.kind === o.kind)) kinds.push({ group, kind: o.kind });
      if (o.kind === 'NetworkPolicy') networkPolicies.push(o as NetworkPolicyObject);
      const template = podTemplateOf(o);
      if (template?.spec !== undefined) {
        pods.push({ workload: id, pod: template.spec });
        const calls = new Set<string>();
        for (const c of [...(template.spec.initContainers ?? []), ...(template.spec.containers ?? [])]) {
          images.push({ workload: id, container: String(c.name), image: String(c.image) });
          const wanted = source.env?.[c.name];
          if (wanted === undefined) continue;
          containersSeen.add(c.name);
          const env: any[] = [...(c.env ?? [])];
          for (const [variable, value] of Object.entries(wanted)) {
            const field = `source.env.${c.name}.${variable}`;
            if (env.some((e) => e.name === variable)) {
              problem(
                ctx,
                field,
                `${id} container ${c.name} already sets ${variable} in ${source.path}/${file}`,
                'set it in one place: remove it from the manifest or from env',
              );
              continue;
            }
            if (value instanceof ModelServiceReference) {
              calls.add(value.service);
              const resolved = resolveReference(ctx, field, value, 'env');
              if (resolved === undefined) continue;
              env.push(typeof resolved === 'string' ? { name: variable, value: resolved } : { name: variable, valueFrom: resolved });
            } else env.push({ name: variable, value });
          }
          c.env = env;
        }
        if (calls.size > 0) callers.push({ workload: id, labels: template.metadata?.labels ?? {}, calls: [...calls].sort() });
      }
      out.push(o);
    }
    files.set(file, out);
  }
  for (const container of Object.keys(source.env ?? {}))
    if (!containersSeen.has(container))
      problem(
        ctx,
        `source.env.${container}`,
        `no workload in ${source.path} has a container named "${container}"`,
        'use the name of a container of its Deployment, StatefulSet or Job',
      );
  return {
    name,
    declaration,
    namespace: ctx.env.namespace,
    files,
    outputDir: companionOutputDir(ctx.env.name, name),
    helmValues: undefined,
    kinds,
    callers,
    networkPolicies,
    pods,
    images,
  };
}

/**
 * Where a manifests companion is synthesized: under its environment's directory, one level down. Argo CD's
 * directory source reads only the files directly in its path unless `directory.recurse` is set (argo-cd
 * docs/user-guide/directory.md; reposerver/repository/repository.go findManifests), so the environment's
 * Application never picks these up: each is its own Application.
 */
export function companionOutputDir(environment: string, companion: string): string {
  return `dist/${environment}/companions/${companion}`;
}

/** Whether a repository path is a companion's synthesized file (not one of the environment's own charts). */
export function isCompanionOutput(path: string): boolean {
  return /^dist\/[^/]+\/companions\//.test(path);
}

/** Resolve every companion of an environment against its model services; throws ChartConfigError with every problem. */
export function resolveCompanions(env: Environment, services: ReadonlyMap<string, ModelServiceFacts>): ResolvedCompanion[] {
  const problems: ConfigProblem[] = [];
  const out: ResolvedCompanion[] = [];
  for (const [name, declaration] of Object.entries(env.companions ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const ctx: Context = { env, companion: name, services, problems };
    if (!dnsLabel.test(name) || name.length > 40)
      problem(
        ctx,
        'companions',
        `"${name}" is not a DNS label of at most 40 characters (it names the Argo CD Application and the Helm release)`,
        'use lower-case letters, digits and dashes',
      );
    if (services.has(name))
      problem(
        ctx,
        'companions',
        `"${name}" is also a model service of ${env.name}: both would own the Service and labels of that name`,
        'rename the companion',
      );
    if (declaration.order === 'before-models' && (env.quota !== undefined || env.limitRange !== undefined))
      problem(
        ctx,
        'order',
        `before-models syncs before the environment's Application, hence before its ResourceQuota and LimitRange exist: its pods would be admitted outside the namespace budget (both are enforced only when a pod is created)`,
        "use order 'after-models', or move the budget to the cluster's own quota (the profile's namespaceQuotas)",
      );
    const resolved = declaration.source.kind === 'helm' ? resolveHelm(ctx, name, declaration) : resolveManifests(ctx, name, declaration);
    if (resolved !== undefined) out.push(resolved);
  }
  if (problems.length > 0) throw new ChartConfigError(problems);
  return out;
}

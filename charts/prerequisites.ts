import type { Environment } from './environments/types.js';
import { loadBalancerImplementations } from './constructs/exposure.js';
import { inFlightPodMetric } from './constructs/queue-autoscaling.js';
import { certManagerIssuerAnnotations } from './rules/ingress-annotations.js';
import { prometheusOf } from './clusters/prometheus.js';
import { minimumKubernetesMinor } from './clusters/versions.js';
import { minimumArgoCd } from './gitops/argocd-versions.js';

/**
 * What a cluster must offer before the first sync, derived from the synthesized objects and the
 * cluster profiles (never typed by hand): the CRDs their kinds need, the Secrets they reference,
 * the controllers their fields rely on, and the oldest Kubernetes that serves every field they set.
 * `npm run synth` renders it into docs/prerequisites.md between the markers below.
 */

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */
export type Obj = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: any;
};

export interface ObjectSource {
  /** Repository-relative file, e.g. dist/staging/chat.yaml. */
  readonly file: string;
  readonly object: Obj;
}

/** API groups every Kubernetes API server serves; any other group is a CRD. */
export const builtInGroups = new Set([
  '',
  'apps',
  'batch',
  'policy',
  'autoscaling',
  'networking.k8s.io',
  'discovery.k8s.io',
  'storage.k8s.io',
  'rbac.authorization.k8s.io',
  'events.k8s.io',
]);

const groupOf = (o: Obj): string => (o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : '');

/**
 * The Kubernetes version that first serves each field or API these manifests use, on by default.
 * Sources: the Kubernetes changelogs and KEPs named per entry.
 */
export const versionedFeatures: ReadonlyArray<{ readonly minor: number; readonly field: string; readonly why: string; readonly uses: (o: Obj) => boolean }> = [
  {
    minor: 27,
    field: 'PodDisruptionBudget spec.unhealthyPodEvictionPolicy',
    why: 'KEP-3017: alpha 1.26, beta and on by default 1.27, GA 1.31; older API servers drop the field, and a loading pod blocks node drains again',
    uses: (o) => o.kind === 'PodDisruptionBudget' && o.spec?.unhealthyPodEvictionPolicy !== undefined,
  },
  {
    minor: 23,
    field: 'Namespace label pod-security.kubernetes.io/enforce',
    why: 'Pod Security Admission beta and on by default in 1.23, GA in 1.25 (KEP-2579); before it the label enforces nothing',
    uses: (o) => o.kind === 'Namespace' && o.metadata.labels?.['pod-security.kubernetes.io/enforce'] !== undefined,
  },
  {
    minor: 23,
    field: 'autoscaling/v2 HorizontalPodAutoscaler',
    why: 'autoscaling/v2 GA in 1.23',
    uses: (o) => o.apiVersion === 'autoscaling/v2',
  },
  {
    minor: 23,
    field: 'Pod securityContext.fsGroupChangePolicy',
    why: 'GA in 1.23 (KEP-695)',
    uses: (o) => o.kind === 'Deployment' && o.spec?.template?.spec?.securityContext?.fsGroupChangePolicy !== undefined,
  },
  {
    minor: 22,
    field: 'NetworkPolicy namespaceSelector on kubernetes.io/metadata.name',
    why: 'the API server sets that label on every Namespace since 1.22 (GA, KEP-2161)',
    uses: (o) => o.kind === 'NetworkPolicy' && JSON.stringify(o.spec ?? {}).includes('kubernetes.io/metadata.name'),
  },
  {
    minor: 21,
    field: 'policy/v1 PodDisruptionBudget',
    why: 'policy/v1 GA in 1.21',
    uses: (o) => o.apiVersion === 'policy/v1',
  },
];

export interface Prerequisites {
  readonly minimumKubernetes: { readonly version: string; readonly field: string; readonly why: string };
  readonly versionedFields: ReadonlyArray<{ readonly version: string; readonly field: string }>;
  readonly crds: ReadonlyArray<{ readonly name: string; readonly kinds: readonly string[]; readonly installedBy: string }>;
  readonly secrets: ReadonlyArray<{ readonly namespace: string; readonly name: string; readonly keys: readonly string[]; readonly usedBy: string }>;
  readonly controllers: ReadonlyArray<{ readonly what: string; readonly why: string; readonly environments: readonly string[] }>;
  readonly namespaces: ReadonlyArray<{ readonly name: string; readonly why: string; readonly environments: readonly string[] }>;
  readonly clusters: ReadonlyArray<{ readonly name: string; readonly environment: string; readonly namespace: string }>;
}

const crdInstaller: Record<string, string> = {
  'monitoring.coreos.com': 'prometheus-operator (kube-prometheus-stack)',
  'argoproj.io': 'Argo CD',
  'keda.sh': 'KEDA (kedacore/keda Helm chart)',
  'http.keda.sh': 'KEDA HTTP add-on (kedacore/keda-add-ons-http Helm chart)',
};

function addTo<K>(map: Map<K, Set<string>>, key: K, value: string): void {
  const set = map.get(key) ?? new Set<string>();
  set.add(value);
  map.set(key, set);
}

/** Derive the prerequisites from the objects `npm run synth` writes and the environments' cluster profiles. */
export function derivePrerequisites(objects: readonly ObjectSource[], environments: readonly Environment[]): Prerequisites {
  const envOf = (file: string): Environment | undefined => environments.find((e) => file.startsWith(`dist/${e.name}/`));

  const used = versionedFeatures.filter((f) => objects.some((o) => f.uses(o.object)));
  const top = [...used].sort((a, b) => b.minor - a.minor)[0];
  if (!top) throw new Error('no version-bound field found in the synthesized objects');

  const crdKinds = new Map<string, Set<string>>();
  for (const { object } of objects) {
    const group = groupOf(object);
    if (!builtInGroups.has(group)) addTo(crdKinds, `${object.kind.toLowerCase()}s.${group}`, object.kind);
  }

  const secretKeys = new Map<string, Set<string>>();
  const secretUsers = new Map<string, Set<string>>();
  const controllers = new Map<string, { why: string; envs: Set<string> }>();
  const namespaces = new Map<string, { why: string; envs: Set<string> }>();
  // Keyed by what and why: one controller needed for two reasons (selector labels that differ) gets two rows.
  const need = (what: string, why: string, env: string | undefined): void => {
    const key = `${what}\n${why}`;
    const entry = controllers.get(key) ?? { why, envs: new Set<string>() };
    if (env) entry.envs.add(env);
    controllers.set(key, entry);
  };

  for (const { file, object } of objects) {
    const env = envOf(file);
    const envName = env?.name;
    const ns = object.metadata.namespace ?? '';
    const secret = (name: string, key: string | undefined, user: string): void => {
      const id = `${ns}/${name}`;
      if (key) addTo(secretKeys, id, key);
      else secretKeys.set(id, secretKeys.get(id) ?? new Set());
      addTo(secretUsers, id, user);
    };
    if (object.kind === 'Deployment') {
      const pod = object.spec.template.spec;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef)
            secret(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key, `Deployment ${object.metadata.name}, env ${e.name}`);
        for (const e of c.envFrom ?? []) if (e.secretRef) secret(e.secretRef.name, undefined, `Deployment ${object.metadata.name}, envFrom`);
      }
      for (const v of pod.volumes ?? []) if (v.secret) secret(v.secret.secretName, undefined, `Deployment ${object.metadata.name}, volume ${v.name}`);
      for (const s of pod.imagePullSecrets ?? []) secret(s.name, '.dockerconfigjson', `Deployment ${object.metadata.name}, imagePullSecrets`);
      const gpu = pod.containers.some((c: any) => c.resources?.limits?.['nvidia.com/gpu'] !== undefined);
      if (gpu) need('NVIDIA device plugin (GPU Operator)', 'advertises the `nvidia.com/gpu` resource the GPU pods request', envName);
      for (const label of Object.keys(pod.nodeSelector ?? {})) {
        if (label.startsWith('nvidia.com/')) need('NVIDIA GPU feature discovery', `labels GPU nodes \`${label}\`, the GPU pods' node selector`, envName);
      }
      // The two system PriorityClasses exist on every cluster (the API server creates them); any other must be created.
      if (pod.priorityClassName && !['system-cluster-critical', 'system-node-critical'].includes(pod.priorityClassName)) {
        need(`PriorityClass \`${pod.priorityClassName}\``, "the pods' priority; admission refuses a pod that names a PriorityClass the cluster lacks", envName);
      }
      if (pod.runtimeClassName)
        need(
          `RuntimeClass \`${pod.runtimeClassName}\``,
          "the pods' container runtime (the NVIDIA GPU Operator creates `nvidia`); admission refuses a pod that names a RuntimeClass the cluster lacks",
          envName,
        );
    }
    if (object.kind === 'Ingress') {
      // With a cert-manager issuer annotation cert-manager writes the TLS Secret; otherwise someone must create it.
      const issuer = Object.entries(certManagerIssuerAnnotations).find(([key]) => object.metadata.annotations?.[key] !== undefined);
      const tlsSecrets = (object.spec.tls ?? []).filter((t: any) => t.secretName).map((t: any) => t.secretName as string);
      if (issuer) {
        for (const name of tlsSecrets)
          need(
            `cert-manager with ${issuer[1]} \`${object.metadata.annotations?.[issuer[0]]}\``,
            `issues the TLS certificate of Ingress ${object.metadata.name} into Secret \`${name}\``,
            envName,
          );
      } else {
        for (const name of tlsSecrets) secret(name, 'tls.crt', `Ingress ${object.metadata.name}, TLS`);
        for (const name of tlsSecrets) addTo(secretKeys, `${ns}/${name}`, 'tls.key');
      }
      if (object.spec.ingressClassName === 'nginx')
        need('ingress-nginx', 'serves the Ingresses (class `nginx`) and reads their proxy-timeout annotations', envName);
    }
    if (object.kind === 'Service' && object.spec?.type === 'LoadBalancer') {
      // An on-prem load balancer's pool, named on the Service: the implementation and the pool must exist.
      for (const impl of Object.values(loadBalancerImplementations)) {
        const key = impl.addressPoolAnnotations?.find((a) => object.metadata.annotations?.[a] !== undefined);
        if (key)
          need(
            `${impl.name} with address pool \`${object.metadata.annotations![key]}\``,
            `gives LoadBalancer Service ${object.metadata.name} its address`,
            envName,
          );
      }
    }
    if (object.kind === 'Service' && object.metadata.annotations?.['service.beta.kubernetes.io/aws-load-balancer-type'] === 'external') {
      need(
        'AWS Load Balancer Controller',
        'provisions the NLB for Services annotated `aws-load-balancer-type: external` and applies their listener attributes',
        envName,
      );
    }
    if (object.kind === 'HorizontalPodAutoscaler' && (object.spec.metrics ?? []).some((m: any) => m.type === 'Resource')) {
      need('metrics-server', 'serves the CPU metrics the HorizontalPodAutoscalers scale on', envName);
    }
    if (
      object.kind === 'HorizontalPodAutoscaler' &&
      (object.spec.metrics ?? []).some((m: any) => m.type === 'Pods' && m.pods?.metric?.name === inFlightPodMetric)
    ) {
      need('prometheus-adapter', `serves \`${inFlightPodMetric}\` on custom.metrics.k8s.io for the queue HPAs, with the rule in docs/autoscaling.md`, envName);
    }
    if (object.kind === 'ScaledObject' && groupOf(object) === 'keda.sh') {
      const trigger = (object.spec.triggers ?? []).find((t: any) => t.type === 'prometheus');
      need(
        'KEDA',
        `reads the ScaledObjects and runs an HPA (\`keda-hpa-<name>\`) for each${trigger ? `, querying Prometheus at \`${trigger.metadata.serverAddress}\`` : ''}`,
        envName,
      );
    }
    if (object.kind === 'PersistentVolumeClaim' && env) {
      const cls = env.cluster.storageClasses.find((c) => c.name === object.spec.storageClassName);
      need(
        `CSI driver \`${cls?.provisioner ?? 'unknown'}\` and StorageClass \`${object.spec.storageClassName}\``,
        'provisions the model-cache PersistentVolumeClaims',
        envName,
      );
    }
    if (object.kind === 'PrometheusRule' || object.kind === 'ServiceMonitor') {
      if (env) {
        const p = prometheusOf(env.cluster);
        const selector = Object.entries(object.kind === 'PrometheusRule' ? p.ruleSelector : p.serviceMonitorSelector)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ');
        need(`Prometheus (prometheus-operator) in namespace \`${p.namespace}\``, `loads ServiceMonitors and PrometheusRules labelled \`${selector}\``, envName);
      }
      if (object.kind === 'PrometheusRule') need('kube-state-metrics', 'exports the `kube_pod_*` series the pod alerts read', envName);
    }
    if (object.kind === 'NetworkPolicy') {
      for (const rule of [...(object.spec.ingress ?? []), ...(object.spec.egress ?? [])]) {
        for (const peer of [...(rule.from ?? []), ...(rule.to ?? [])]) {
          const name = peer.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name'];
          if (!name || name === ns) continue;
          const entry = namespaces.get(name) ?? { why: 'admitted by the NetworkPolicies', envs: new Set<string>() };
          if (envName) entry.envs.add(envName);
          namespaces.set(name, entry);
        }
      }
    }
  }

  // Companions' Applications share their environment's destination: one row per environment.
  const clusters = objects
    .filter((o) => o.object.kind === 'Application' && o.object.spec.destination.name !== undefined && o.object.metadata.labels?.companion === undefined)
    .map((o) => ({
      name: o.object.spec.destination.name as string,
      environment: String(o.object.metadata.labels?.environment ?? o.object.metadata.name),
      namespace: o.object.spec.destination.namespace as string,
    }));
  // The Argo CD floor follows from the fields and sync options the objects use (charts/gitops/argocd-versions.ts).
  const argo = minimumArgoCd(objects.map((o) => o.object));
  if (clusters.length > 0) {
    const why = argo ? `; ${argo.version} for ${argo.feature.what} (${argo.feature.source}; older: ${argo.feature.olderDoes})` : '';
    need(argo ? `Argo CD ${argo.version} or newer` : 'Argo CD', `syncs argocd/ (the root Application) and every environment in dist/${why}`, undefined);
  }
  // Companions are ordered around the model services by the root Application's sync waves, which wait for an
  // Application's health only with this check (argo-cd docs/operator-manual/health.md, "Argo CD App").
  const companionEnvironments = objects.flatMap((o) =>
    o.object.kind === 'Application' && o.object.metadata.labels?.companion !== undefined ? [String(o.object.metadata.labels.environment)] : [],
  );
  for (const { object } of objects.filter((o) => o.object.kind === 'Application' && o.object.spec?.source?.chart !== undefined))
    need(
      `Argo CD's repo server reaches the Helm repository ${object.spec.source.repoURL}`,
      `renders chart ${object.spec.source.chart} ${object.spec.source.targetRevision} (companion ${object.metadata.labels?.companion ?? object.metadata.name}); a mirror needs its URL in the companion's repoURL`,
      object.metadata.labels?.environment,
    );
  for (const env of companionEnvironments)
    need(
      'Argo CD health check for `argoproj.io/Application` in argocd-cm (docs/companions.md)',
      'orders companions before and after the model services: without it a sync wave of Applications waits for nothing (Application health is not assessed since Argo CD 1.8), so a companion may start before what it calls is up',
      env,
    );

  const sortedEnvs = (s: Set<string>): string[] => [...s].sort();
  return {
    minimumKubernetes: { version: `1.${top.minor}`, field: top.field, why: top.why },
    versionedFields: [...used].sort((a, b) => b.minor - a.minor).map((f) => ({ version: `1.${f.minor}`, field: f.field })),
    crds: [...crdKinds]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([name, kinds]) => ({ name, kinds: [...kinds].sort(), installedBy: crdInstaller[name.split('.').slice(1).join('.')] ?? 'its operator' })),
    secrets: [...secretKeys]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, keys]) => ({
        namespace: id.split('/')[0]!,
        name: id.split('/')[1]!,
        keys: [...keys].sort(),
        usedBy: [...(secretUsers.get(id) ?? [])].join('; '),
      })),
    controllers: [...controllers]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, c]) => ({ what: key.split('\n')[0]!, why: c.why, environments: sortedEnvs(c.envs) })),
    namespaces: [...namespaces].sort(([a], [b]) => a.localeCompare(b)).map(([name, n]) => ({ name, why: n.why, environments: sortedEnvs(n.envs) })),
    clusters,
  };
}

export const prerequisitesBegin = '<!-- BEGIN prerequisites: generated by `npm run synth` from dist/, argocd/ and the cluster profiles; do not edit -->';
export const prerequisitesEnd = '<!-- END prerequisites -->';

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function renderPrerequisites(p: Prerequisites): string {
  const envs = (list: readonly string[]): string => (list.length === 0 ? 'all' : list.join(', '));
  const lines = [
    prerequisitesBegin,
    '',
    `**Kubernetes ${p.minimumKubernetes.version} or newer**, set by \`${p.minimumKubernetes.field}\` (${cell(p.minimumKubernetes.why)}). Every version-bound field the manifests use:`,
    '',
    '| since | field |',
    '| --- | --- |',
    ...p.versionedFields.map((f) => `| ${f.version} | \`${f.field}\` |`),
    '',
    `That is what the committed manifests ask of the newest of their clusters. Synth writes each environment for its cluster profile's \`kubernetesVersion\` and leaves out fields that version does not serve, down to the repository's floor, **Kubernetes 1.${minimumKubernetesMinor}** (\`minimumKubernetesMinor\` in charts/clusters/versions.ts, enforced by the \`kubernetes-version-supported\` rule in docs/rules.md).`,
    '',
    '**Clusters registered in Argo CD** under these names (`argocd cluster add <context> --name <name>`):',
    '',
    '| cluster name | environment | namespace |',
    '| --- | --- | --- |',
    ...p.clusters.map((c) => `| \`${c.name}\` | ${c.environment} | \`${c.namespace}\` |`),
    '',
    '**CRDs** (without them the sync fails its dry run):',
    '',
    '| CRD | kinds | installed by |',
    '| --- | --- | --- |',
    ...p.crds.map((c) => `| \`${c.name}\` | ${c.kinds.join(', ')} | ${c.installedBy} |`),
    '',
    '**Secrets to create** before the first sync (nothing here creates them; a pod that references a missing one never starts):',
    '',
    '| namespace | secret | keys | used by |',
    '| --- | --- | --- | --- |',
    ...p.secrets.map((s) => `| \`${s.namespace}\` | \`${s.name}\` | ${s.keys.map((k) => `\`${k}\``).join(', ')} | ${cell(s.usedBy)} |`),
    '',
    '**Controllers and add-ons**:',
    '',
    '| what | why | environments |',
    '| --- | --- | --- |',
    ...p.controllers.map((c) => `| ${cell(c.what)} | ${cell(c.why)} | ${envs(c.environments)} |`),
    '',
    '**Namespaces that must exist** (the NetworkPolicies admit traffic from them or send DNS to them):',
    '',
    '| namespace | environments |',
    '| --- | --- |',
    ...p.namespaces.map((n) => `| \`${n.name}\` | ${envs(n.environments)} |`),
    '',
    prerequisitesEnd,
  ];
  return lines.join('\n');
}

/** docs/prerequisites.md with its generated block replaced; throws when the markers are missing. */
export function replacePrerequisites(page: string, block: string): string {
  const begin = page.indexOf(prerequisitesBegin);
  const end = page.indexOf(prerequisitesEnd);
  if (begin < 0 || end < begin)
    throw new Error(
      `docs/prerequisites.md: the prerequisites markers are missing. Fix: put "${prerequisitesBegin}" and "${prerequisitesEnd}" on their own lines in it`,
    );
  return page.slice(0, begin) + block + page.slice(end + prerequisitesEnd.length);
}

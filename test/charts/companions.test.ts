/**
 * Companions (charts/companions/, docs/companions.md): what synth makes of them and what it refuses, asserted over
 * whatever environments declare companions, plus the refusals on small environments built here.
 */
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ref } from '../../charts/companions/references.js';
import { ingressAllows, egressAllows, egressAllowsDns, selects, type NetworkPolicyObject, type PodEnd } from '../../charts/companions/network-reach.js';
import { isCompanionOutput, servedModelId } from '../../charts/companions/resolve.js';
import type { CompanionDeclaration } from '../../charts/companions/types.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { applicationWaves } from '../../charts/gitops/argocd.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { synthesizeAll } from '../../charts/synth.js';
import { printSummary } from '../../charts/summary.js';
import { roomyTestCluster } from '../support/clusters.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized YAML is read as plain JSON */

const output = synthesizeAll();
const objectsOf = (path: string): any[] => parseAllDocuments(output.files.get(path) ?? '').map((d) => d.toJSON());
const argo = [...output.files].filter(([p]) => p.startsWith('argocd/')).flatMap(([p]) => objectsOf(p));
const project = argo.find((o) => o.kind === 'AppProject' && o.metadata.name === 'llm-inference');
const withCompanions = output.builds.filter((b) => b.companions.length > 0);

describe('the shipped environments', () => {
  it('include at least one with companions (the research stack)', () => {
    expect(withCompanions.length).toBeGreaterThan(0);
  });

  describe.each(withCompanions.map((b) => [b.environment.name, b] as const))('%s', (_name, build) => {
    const env = build.environment;
    const envApp = argo.find((o) => o.kind === 'Application' && o.metadata.name === `llm-${env.name}`);

    it.each(build.companions.map((c) => [c.name, c] as const))(
      'companion %s: one Application in the project, to the environment, in the declared wave',
      (name, c) => {
        const app = argo.find((o) => o.kind === 'Application' && o.metadata.labels?.companion === name && o.metadata.labels?.environment === env.name);
        expect(app, `argocd/${env.name}-${name}.yaml`).toBeDefined();
        expect(app.spec.project).toBe(envApp.spec.project);
        expect(app.spec.destination).toEqual(envApp.spec.destination);
        const wave = Number(app.metadata.annotations['argocd.argoproj.io/sync-wave']);
        const modelsWave = Number(envApp.metadata.annotations['argocd.argoproj.io/sync-wave']);
        if (c.declaration.order === 'before-models') expect(wave).toBeLessThan(modelsWave);
        else expect(wave).toBeGreaterThan(modelsWave);
        expect(wave).toBeGreaterThan(Number(project.metadata.annotations['argocd.argoproj.io/sync-wave']));
        // It may sync first: it creates the namespace with the Namespace's own Pod Security labels.
        expect(app.spec.syncPolicy.syncOptions).toContain('CreateNamespace=true');
        const ns = objectsOf(`dist/${env.name}/namespace.yaml`).find((o) => o.kind === 'Namespace');
        expect(app.spec.syncPolicy.managedNamespaceMetadata.labels).toEqual(ns.metadata.labels);
        expect(app.spec.syncPolicy.automated).toEqual({ prune: true, selfHeal: true, allowEmpty: false });
        for (const k of c.kinds) expect(project.spec.namespaceResourceWhitelist).toContainEqual({ group: k.group, kind: k.kind });
        const source = c.declaration.source;
        if (source.kind === 'helm') {
          expect(app.spec.source).toMatchObject({ repoURL: source.repoURL, chart: source.chart, targetRevision: source.version });
          expect(app.spec.source.targetRevision).toMatch(/^\d+\.\d+\.\d+/);
          expect(project.spec.sourceRepos).toContain(source.repoURL);
        } else {
          expect(app.spec.source.path).toBe(c.outputDir);
          expect(app.spec.source.repoURL).toBe(envApp.spec.source.repoURL);
          expect(app.spec.source.targetRevision).toBe(envApp.spec.source.targetRevision);
          const files = [...output.files.keys()].filter((p) => p.startsWith(`${c.outputDir}/`));
          expect(files.length).toBeGreaterThan(0);
          for (const f of files) {
            expect(isCompanionOutput(f)).toBe(true);
            for (const o of objectsOf(f)) expect(o.metadata.namespace, `${f} ${o.kind}/${o.metadata.name}`).toBe(env.namespace);
          }
        }
      },
    );

    it('resolves every model service reference from the synthesized Service, the model file and the apiKeySecret', () => {
      for (const c of build.companions) {
        const source = c.declaration.source;
        if (source.kind !== 'manifests') continue;
        const containers = [...c.files.values()]
          .flat()
          .flatMap((o: any) => [...(o.spec?.template?.spec?.initContainers ?? []), ...(o.spec?.template?.spec?.containers ?? [])]);
        for (const [container, vars] of Object.entries(source.env ?? {})) {
          const env_ = containers.find((x: any) => x.name === container)?.env ?? [];
          for (const [variable, value] of Object.entries(vars)) {
            const set = env_.find((e: any) => e.name === variable);
            expect(set, `${c.name} ${container} ${variable}`).toBeDefined();
            if (typeof value === 'string') {
              expect(set.value).toBe(value);
              continue;
            }
            const svcChart = build.services.find((s) => s.service.plan.name === value.service)!;
            const svc = (svcChart.toJson() as any[]).find((o) => o.kind === 'Service');
            const base = `http://${svc.metadata.name}.${svc.metadata.namespace}.svc:${svc.spec.ports[0].port}`;
            const props = svcChart.service.plan.props;
            const expected: Record<string, unknown> = {
              url: { value: base },
              openaiBaseUrl: { value: `${base}/v1` },
              modelId: { value: servedModelId(props.model.source) },
              apiKey: { valueFrom: { secretKeyRef: props.apiKeySecret } },
              apiKeySecretName: { value: props.apiKeySecret?.name },
              apiKeySecretKey: { value: props.apiKeySecret?.key },
            };
            expect({ ...set, name: undefined }, `${c.name} ${variable}`).toEqual({ name: undefined, ...(expected[value.attribute] as object) });
          }
        }
      }
    });
  });
});

describe('the synth summary', () => {
  it('has one line per companion: its source, its order and wave, the model services it calls', () => {
    const lines: string[] = [];
    printSummary(output, (l) => lines.push(l));
    for (const b of withCompanions)
      for (const c of b.companions) {
        const line = lines.find((l) => l.startsWith(`companion ${c.name}: `));
        expect(line, c.name).toBeDefined();
        expect(line).toContain(c.declaration.order);
        for (const called of c.callers.flatMap((x) => x.calls)) expect(line).toContain(called);
        if (c.declaration.source.kind === 'helm') expect(line).toContain(`${c.declaration.source.chart} ${c.declaration.source.version}`);
      }
  });
});

describe('servedModelId', () => {
  it('is the file name without .gguf, as the engine names its model (hf:, https:, split parts)', () => {
    expect(servedModelId('hf:Qwen/Qwen2.5-3B-Instruct-GGUF/qwen2.5-3b-instruct-q4_k_m.gguf')).toBe('qwen2.5-3b-instruct-q4_k_m');
    expect(servedModelId('hf:nomic-ai/nomic-embed-text-v1.5-GGUF/nomic-embed-text-v1.5.Q4_K_M.gguf#0188c9bf409793f810680a5a431e7b899c46104c')).toBe(
      'nomic-embed-text-v1.5.Q4_K_M',
    );
    expect(servedModelId('https://mirror.internal/models/big-00001-of-00002.gguf')).toBe('big-00001-of-00002');
  });
});

describe('reachability (NetworkPolicy semantics)', () => {
  const model: PodEnd = { namespace: 'llm', namespaceLabels: {}, labels: { app: 'chat', tier: 'inference' }, namedPorts: { http: 8080 } };
  const sameNs: PodEnd = { namespace: 'llm', namespaceLabels: {}, labels: { app: 'agent' } };
  const otherNs: PodEnd = { namespace: 'apps', namespaceLabels: { team: 'research' }, labels: { app: 'agent' } };
  const policy = (spec: NetworkPolicyObject['spec']): NetworkPolicyObject => ({ kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'llm' }, spec });

  it('admits everything when no policy selects the pod, nothing a selecting policy does not list', () => {
    expect(ingressAllows([], otherNs, model, 8080).allowed).toBe(true);
    const ownNamespaceOnly = policy({ podSelector: { matchLabels: { app: 'chat' } }, ingress: [{ from: [{ podSelector: {} }], ports: [{ port: 8080 }] }] });
    expect(ingressAllows([ownNamespaceOnly], sameNs, model, 8080).allowed).toBe(true);
    expect(ingressAllows([ownNamespaceOnly], otherNs, model, 8080)).toEqual({ allowed: false, policies: ['llm/p'] });
    expect(ingressAllows([ownNamespaceOnly], sameNs, model, 9090).allowed).toBe(false);
    // A policy selecting other pods does not restrict this one.
    expect(ingressAllows([policy({ podSelector: { matchLabels: { app: 'other' } }, ingress: [] })], otherNs, model, 8080).allowed).toBe(true);
  });

  it('matches namespaces by label and by kubernetes.io/metadata.name, named ports and ranges', () => {
    const byLabel = policy({ podSelector: {}, ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'research' } } }], ports: [{ port: 'http' }] }] });
    expect(ingressAllows([byLabel], otherNs, model, 8080).allowed).toBe(true);
    const byName = policy({
      podSelector: {},
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'apps' } }, podSelector: { matchLabels: { app: 'web' } } }] }],
    });
    expect(ingressAllows([byName], otherNs, model, 8080).allowed).toBe(false);
    expect(ingressAllows([byName], { ...otherNs, labels: { app: 'web' } }, model, 8080).allowed).toBe(true);
    const range = policy({ podSelector: {}, ingress: [{ ports: [{ port: 8000, endPort: 8100 }] }] });
    expect(ingressAllows([range], otherNs, model, 8080).allowed).toBe(true);
    expect(ingressAllows([range], otherNs, model, 8101).allowed).toBe(false);
    expect(ingressAllows([policy({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '0.0.0.0/0' } }] }] })], otherNs, model, 8080).allowed).toBe(true);
    expect(ingressAllows([policy({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' } }] }] })], otherNs, model, 8080).allowed).toBe(false);
  });

  it('reads matchExpressions as metav1.LabelSelector does', () => {
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['inference'] }] }, model.labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['inference'] }] }, model.labels)).toBe(false);
    expect(selects({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, model.labels)).toBe(true);
    expect(selects({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, model.labels)).toBe(false);
  });

  it('checks the caller side: egress to the model port, and DNS', () => {
    const egressOnly = (egress: NonNullable<NetworkPolicyObject['spec']>['egress']) =>
      policy({ podSelector: { matchLabels: { app: 'agent' } }, policyTypes: ['Egress'], egress });
    const dnsOnly = egressOnly([{ ports: [{ port: 53, protocol: 'UDP' }] }]);
    expect(egressAllows([dnsOnly], sameNs, model, 8080).allowed).toBe(false);
    expect(egressAllowsDns([dnsOnly], sameNs).allowed).toBe(true);
    const modelOnly = egressOnly([{ to: [{ podSelector: { matchLabels: { tier: 'inference' } } }], ports: [{ port: 8080 }] }]);
    expect(egressAllows([modelOnly], sameNs, model, 8080).allowed).toBe(true);
    expect(egressAllowsDns([modelOnly], sameNs).allowed).toBe(false);
  });
});

/** A small environment for the refusals: one chat service with an API key Secret, on a roomy test cluster. */
function testEnv(companions: Record<string, CompanionDeclaration>, over: Partial<Environment> = {}): Environment {
  const chat: ServiceDeclaration = {
    model: qwen25_3bInstructQ4KM,
    cpu: 2,
    modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
    apiKeySecret: { name: 'chat-key', key: 'api-key' },
  };
  return {
    name: 'test',
    definedIn: 'test/charts/companions.test.ts',
    namespace: 'llm-test',
    clusterName: 'test',
    cluster: roomyTestCluster({ definedIn: 'test/charts/companions.test.ts' }),
    image: `ghcr.io/gguf-on-k8s/inference:1.2.3@sha256:${'a'.repeat(64)}`,
    services: { chat },
    companions,
    ...over,
  };
}

const fixture = (name: string) => `test/fixtures/companions/${name}`;
const manifests = (path: string, env: Record<string, Record<string, string | ReturnType<typeof ref.service>['url']>> = {}): CompanionDeclaration => ({
  order: 'after-models',
  source: { kind: 'manifests', path, env },
});
const helm = (over: Partial<Extract<CompanionDeclaration['source'], { kind: 'helm' }>> = {}): CompanionDeclaration => ({
  order: 'before-models',
  source: {
    kind: 'helm',
    repoURL: 'https://charts.example.com',
    chart: 'db',
    version: '1.2.3',
    renders: [{ group: 'apps', kind: 'StatefulSet' }],
    ...over,
  },
});

function configProblems(e: Environment): ChartConfigError['problems'] {
  try {
    synthesizeAll([e]);
  } catch (err) {
    if (err instanceof ChartConfigError) return err.problems;
    throw err;
  }
  throw new Error('synth accepted the environment');
}

describe('refusals, each naming the file, the companion and the field', () => {
  const object = 'test/companions/client';

  it('control: a companion with resolvable references synthesizes, its Helm repository admitted by the project', () => {
    const out = synthesizeAll([
      testEnv({
        client: manifests(fixture('egress-to-model'), {
          client: { OPENAI_BASE_URL: ref.service('chat').openaiBaseUrl, OPENAI_API_KEY: ref.service('chat').apiKey },
        }),
        db: helm({
          values: { auth: { existingSecret: ref.service('chat').apiKeySecretName, key: ref.service('chat').apiKeySecretKey } },
          callerPodLabels: { app: 'db' },
        }),
      }),
    ]);
    const deployment = parseAllDocuments(out.files.get('dist/test/companions/client/client.yaml')!)
      .map((d) => d.toJSON())
      .find((o) => o.kind === 'Deployment');
    expect(deployment.spec.template.spec.containers[0].env).toEqual([
      { name: 'OPENAI_BASE_URL', value: 'http://chat.llm-test.svc:80/v1' },
      { name: 'OPENAI_API_KEY', valueFrom: { secretKeyRef: { name: 'chat-key', key: 'api-key' } } },
    ]);
    const app = parseAllDocuments(out.files.get('argocd/test-db.yaml')!)[0]!.toJSON();
    expect(app.spec.source.helm.values).toBe('auth:\n  existingSecret: chat-key\n  key: api-key\n');
    expect(app.metadata.annotations['argocd.argoproj.io/sync-wave']).toBe(String(applicationWaves.companionsBeforeModels));
    const proj = parseAllDocuments(out.files.get('argocd/project.yaml')!)[0]!.toJSON();
    expect(proj.spec.sourceRepos).toContain('https://charts.example.com');
    expect(proj.spec.namespaceResourceWhitelist).toContainEqual({ group: 'apps', kind: 'StatefulSet' });
  });

  it('a reference to a model service the environment does not declare', () => {
    const problems = configProblems(testEnv({ client: manifests(fixture('egress-to-model'), { client: { OPENAI_BASE_URL: ref.service('chatt').url } }) }));
    expect(problems).toEqual([
      expect.objectContaining({
        file: 'test/charts/companions.test.ts',
        object,
        field: 'source.env.client.OPENAI_BASE_URL',
        problem: expect.stringContaining('"chatt"'),
      }),
    ]);
    expect(problems[0]!.problem).toContain('have: chat');
  });

  it('an API key reference to a service without apiKeySecret, and the key itself in Helm values', () => {
    const noKey = testEnv({ client: manifests(fixture('egress-to-model'), { client: { KEY: ref.service('chat').apiKey } }) });
    const chatWithoutKey = { ...noKey.services.chat!, apiKeySecret: undefined } as ServiceDeclaration;
    const { apiKeySecret: _, ...rest } = chatWithoutKey;
    expect(configProblems({ ...noKey, services: { chat: rest } })).toEqual([
      expect.objectContaining({ field: 'source.env.client.KEY', problem: expect.stringContaining('no apiKeySecret') }),
    ]);
    expect(configProblems(testEnv({ db: helm({ values: { key: ref.service('chat').apiKey }, callerPodLabels: { app: 'db' } }) }))).toEqual([
      expect.objectContaining({ object: 'test/companions/db', field: 'source.values.key', fix: expect.stringContaining('apiKeySecretName') }),
    ]);
  });

  it('a Helm chart version range, a non-https repository, no kinds, a cluster-scoped kind, references without caller labels', () => {
    const fields = (e: Environment) =>
      configProblems(e)
        .map((p) => p.field)
        .sort();
    expect(fields(testEnv({ db: helm({ version: '^1.2' }) }))).toEqual(['source.version']);
    expect(fields(testEnv({ db: helm({ version: '1.*' }) }))).toEqual(['source.version']);
    expect(fields(testEnv({ db: helm({ repoURL: 'http://charts.example.com' }) }))).toEqual(['source.repoURL']);
    expect(fields(testEnv({ db: helm({ renders: [] }) }))).toEqual(['source.renders']);
    expect(fields(testEnv({ db: helm({ renders: [{ group: 'rbac.authorization.k8s.io', kind: 'ClusterRole' }] }) }))).toEqual(['source.renders[0]']);
    expect(fields(testEnv({ db: helm({ values: { url: ref.service('chat').url } }) }))).toEqual(['source.callerPodLabels']);
  });

  it('manifests: a missing directory, a container no workload has, an env var set twice, cluster-scoped and foreign-namespace objects', () => {
    expect(configProblems(testEnv({ client: manifests('test/fixtures/companions/none') }))).toEqual([expect.objectContaining({ field: 'source.path' })]);
    expect(configProblems(testEnv({ client: manifests('../outside') }))).toEqual([expect.objectContaining({ field: 'source.path' })]);
    expect(configProblems(testEnv({ client: manifests(fixture('egress-to-model'), { cliant: { A: 'b' } }) }))).toEqual([
      expect.objectContaining({ field: 'source.env.cliant', problem: expect.stringContaining('no workload') }),
    ]);
    const twice = configProblems(
      testEnv({
        client: manifests('companions/research/agent', { agent: { QDRANT_URL: 'http://elsewhere:6333', OPENAI_BASE_URL: ref.service('chat').openaiBaseUrl } }),
      }),
    );
    expect(twice).toEqual([expect.objectContaining({ field: 'source.env.agent.QDRANT_URL', problem: expect.stringContaining('already sets QDRANT_URL') })]);
    const bad = configProblems(testEnv({ client: manifests(fixture('bad-objects')) }));
    expect(bad.map((p) => p.problem)).toEqual([expect.stringContaining('ClusterRole is cluster-scoped'), expect.stringContaining('is "kube-system"')]);
  });

  it('before-models in an environment with a namespace budget (its pods would escape it)', () => {
    const quota = { cpu: 10, memoryGiB: 32, gpus: 0, ephemeralStorageGiB: 12, pods: 10, storageGiB: 40, persistentVolumeClaims: 4 };
    expect(configProblems(testEnv({ db: helm() }, { quota }))).toEqual([expect.objectContaining({ object: 'test/companions/db', field: 'order' })]);
    expect(() => synthesizeAll([testEnv({ db: { ...helm(), order: 'after-models' } }, { quota })])).not.toThrow();
  });

  it('a name that is no DNS label, or that a model service already has, and an unknown prop', () => {
    expect(configProblems(testEnv({ Client_1: manifests(fixture('egress-to-model')) })).map((p) => p.field)).toEqual(['companions']);
    expect(configProblems(testEnv({ chat: manifests(fixture('egress-to-model')) })).map((p) => p.problem)).toEqual([
      expect.stringContaining('also a model service'),
    ]);
    const typo = configProblems(testEnv({ client: { ...manifests(fixture('egress-to-model')), ordre: 'after-models' } as never }));
    expect(typo).toEqual([expect.objectContaining({ object: 'test/companions/client', field: 'ordre', fix: 'did you mean "order"?' })]);
  });
});

describe("the companions' own pods", () => {
  const ruleErrors = (e: Environment) => {
    try {
      return synthesizeAll([e]).report;
    } catch (err) {
      if (err instanceof RuleViolationError) return err.report;
      throw err;
    }
  };

  it('meet the namespace Pod Security level and carry digests (errors in production, warnings elsewhere)', () => {
    const report = ruleErrors(testEnv({ worker: manifests(fixture('runs-as-root')) }));
    expect(report.errors.map((f) => [f.ruleId, f.service])).toEqual([['pod-security-standard-met', 'companion:worker']]);
    expect(report.errors[0]!.message).toContain('Deployment/worker');
    expect(report.warnings.map((f) => [f.ruleId, f.service])).toEqual([['image-pinned', 'companion:worker']]);
    const production = ruleErrors(testEnv({ worker: manifests(fixture('runs-as-root')) }, { production: true }));
    expect(production.errors.map((f) => f.ruleId).sort()).toEqual(['image-pinned', 'pod-security-standard-met']);
  });

  it('waive a rule only with a written reason and a rule id that applies to them', () => {
    const waived = { ...manifests(fixture('runs-as-root')), waivers: { 'image-pinned': 'vendor publishes no digest for this tag yet' } };
    const report = ruleErrors(testEnv({ worker: waived }));
    expect(report.waived.map((f) => f.ruleId)).toEqual(['image-pinned']);
    const badId = { ...manifests(fixture('egress-to-model')), waivers: { 'gpu-fits': 'not a rule of a companion at all' } };
    expect(() => synthesizeAll([testEnv({ client: badId })])).toThrow(/companions\/client: waivers: "gpu-fits" is not a rule of a companion's own pods/);
  });
});

describe('every environment with companions', () => {
  it('is one of charts/environments/index.ts (the research stack ships as an environment, not a fixture)', () => {
    for (const b of withCompanions) expect(environments).toContain(b.environment);
  });
});

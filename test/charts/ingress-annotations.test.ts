import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { certManagerCrds, prometheusOperatorCrds } from '../../charts/clusters/eks.js';
import type { ClusterProfile } from '../../charts/clusters/types.js';
import {
  controllerIngressAnnotations,
  defaultIngressController,
  managedIngressAnnotations,
  nginxIngressAnnotations,
} from '../../charts/constructs/exposure.js';
import type { ExposureProps } from '../../charts/constructs/props.js';
import { environments } from '../../charts/environments/index.js';
import type { Environment } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';
import { committedManifests } from '../support/manifests.js';

const definedIn = 'test/charts/ingress-annotations.test.ts';
const withCertManager = roomyTestCluster({ definedIn, customResourceTypes: [...prometheusOperatorCrds, ...certManagerCrds] });
const env = (exposure: ExposureProps, cluster: ClusterProfile = withCertManager): Environment => ({
  name: 'edge',
  definedIn,
  namespace: 'llm-edge',
  clusterName: 'edge',
  cluster,
  image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
  services: { chat: { model: qwen25_3bInstructQ4KM, cpu: 2, modelCache: { kind: 'emptyDir' }, exposure } },
});
const issuer = { 'cert-manager.io/cluster-issuer': 'letsencrypt' };
const ingressOf = (e: Environment) => {
  const out = synthesizeAll([e]);
  const yaml = out.files.get('dist/edge/chat.yaml')!;
  return { out, yaml };
};
const ruleErrors = (e: Environment): string[] => {
  try {
    synthesizeAll([e]);
    return [];
  } catch (err) {
    if (err instanceof RuleViolationError) return err.report.errors.filter((f) => f.ruleId === 'ingress-annotations-served').map((f) => f.message);
    throw err;
  }
};

describe('ingress annotations', () => {
  it('committed Ingresses carry the declared extra annotations beside every construct-managed one', () => {
    const docs = committedManifests().map((d) => d.object);
    const declared = environments.flatMap((e) =>
      Object.entries(e.services).flatMap(([name, s]) =>
        s.exposure?.kind === 'ingress' && s.exposure.annotations ? [{ e, name, extra: s.exposure.annotations }] : [],
      ),
    );
    expect(declared.length).toBeGreaterThan(0);
    for (const { e, name, extra } of declared) {
      const ingress = docs.find((o) => o.kind === 'Ingress' && o.metadata.namespace === e.namespace && o.metadata.name === name)!;
      expect(ingress.metadata.annotations).toMatchObject(extra);
      const controller = e.cluster.ingressControllers?.[ingress.spec.ingressClassName] ?? defaultIngressController;
      const managed = Object.keys(controllerIngressAnnotations(controller, 60, true));
      for (const key of managed) expect(ingress.metadata.annotations, key).toHaveProperty([key]);
    }
  });

  it('merges extra annotations with the managed ones', () => {
    const { yaml } = ingressOf(
      env({
        kind: 'ingress',
        host: 'chat.example',
        tlsSecretName: 'chat-tls',
        annotations: { ...issuer, 'nginx.ingress.kubernetes.io/whitelist-source-range': '10.0.0.0/8' },
      }),
    );
    expect(yaml).toContain('cert-manager.io/cluster-issuer: letsencrypt');
    expect(yaml).toContain('nginx.ingress.kubernetes.io/whitelist-source-range: 10.0.0.0/8');
    const ingress = parseAllDocuments(yaml)
      .map((d) => d.toJSON())
      .find((o) => o.kind === 'Ingress');
    // Every managed key is still there with the construct's value (the timeouts follow the request timeout, 300 s on CPU).
    expect(ingress.metadata.annotations).toMatchObject(
      nginxIngressAnnotations(Number(ingress.metadata.annotations['nginx.ingress.kubernetes.io/proxy-read-timeout'])),
    );
    expect(Object.keys(ingress.metadata.annotations).sort()).toEqual(
      [...Object.keys(nginxIngressAnnotations(1)), 'cert-manager.io/cluster-issuer', 'nginx.ingress.kubernetes.io/whitelist-source-range'].sort(),
    );
  });

  it('refuses an annotation that would replace a construct-managed one, saying why and naming file, service and field', () => {
    // Each controller's managed annotations, on a cluster whose class is served by that controller.
    const alb = roomyTestCluster({ definedIn, ingressClassNames: ['alb'], ingressControllers: { alb: 'ingress.k8s.aws/alb' } });
    const cases = [
      ...Object.keys(nginxIngressAnnotations(1)).map((key) => ({ key, className: 'nginx', cluster: withCertManager })),
      ...Object.keys(controllerIngressAnnotations('ingress.k8s.aws/alb', 60, true)).map((key) => ({ key, className: 'alb', cluster: alb })),
    ];
    expect(cases.map((c) => c.key).sort()).toEqual(Object.keys(managedIngressAnnotations).sort());
    for (const { key, className, cluster } of cases) {
      let message = '';
      try {
        synthesizeAll([env({ kind: 'ingress', host: 'chat.example', className, annotations: { [key]: '30' } }, cluster)]);
      } catch (err) {
        if (!(err instanceof ChartConfigError)) throw err;
        message = err.message;
      }
      expect(message).toContain(`${definedIn}: edge/chat: exposure.annotations['${key}']: would replace the construct's ${key}`);
      expect(message).toContain(managedIngressAnnotations[key]!.why);
    }
  });

  it('a cert-manager issuer on a cluster without cert-manager fails synth', () => {
    const bare = roomyTestCluster({ definedIn });
    const errors = ruleErrors(env({ kind: 'ingress', host: 'chat.example', tlsSecretName: 'chat-tls', annotations: issuer }, bare));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/has no ClusterIssuer\.cert-manager\.io or Certificate\.cert-manager\.io type: nothing issues it/);
    expect(ruleErrors(env({ kind: 'ingress', host: 'chat.example', tlsSecretName: 'chat-tls', annotations: issuer }))).toEqual([]);
  });

  it('a cert-manager issuer without a TLS secret fails synth: the ingress-shim only issues for spec.tls entries with a secretName', () => {
    const errors = ruleErrors(env({ kind: 'ingress', host: 'chat.example', annotations: { 'cert-manager.io/issuer': 'ca' } }));
    expect(errors).toEqual([expect.stringMatching(/no TLS secret for chat\.example/)]);
  });
});

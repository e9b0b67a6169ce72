/**
 * What makes a service an embedding service in the charts, for every embedding model in the catalogue (an
 * entry with an `embedding` block) against every generative one: the kind is derived from the model, the
 * sizing and timeouts follow what an embedding context does, chat-only props are refused naming the file,
 * the service, the field and the fix, and a kind that contradicts the model fails synth both ways.
 */
import { describe, expect, it } from 'vitest';
import { chatOnlyEnvVars, embeddingBatchSize, envVars } from '../../service/contract.js';
import type { Environment, ServiceDeclaration } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { catalogueEntries } from '../../charts/models/catalogue.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { RuleViolationError } from '../../charts/rules/engine.js';
import { commonIdleTimeoutSeconds } from '../../charts/sizing/timeouts.js';
import { synthesizeAll } from '../../charts/synth.js';
import { roomyTestCluster } from '../support/clusters.js';

const file = 'test/charts/embedding-service.test.ts';
const embeddingModels = catalogueEntries.map((e) => e.model).filter((m) => m.embedding !== undefined);
const chatModels = catalogueEntries.map((e) => e.model).filter((m) => m.embedding === undefined && m.fileBytes < 8 * 2 ** 30);

function env(services: Record<string, ServiceDeclaration>): Environment {
  return {
    name: 'test',
    definedIn: file,
    namespace: 'llm-test',
    clusterName: 'test',
    cluster: roomyTestCluster({ definedIn: file }),
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services,
  };
}
const service = (model: ModelSpec, over: Partial<ServiceDeclaration> = {}): ServiceDeclaration => ({
  model,
  cpu: 1,
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
  // The catalogue's embedding entry is unverified: the integrity warning is not what these tests are about.
  waivers: { 'model-integrity-verified': 'not the subject of this test: sizes and hash of the entry are out of scope here' },
  ...over,
});
const serverEnv = (e: Environment, name: string): Record<string, string | undefined> => {
  const chart = synthesizeAll([e]).builds[0]!.services.find((s) => s.service.plan.name === name)!;
  const dep = (
    chart.toJson() as Array<{
      kind: string;
      spec: { template: { spec: { containers: Array<{ name: string; env: Array<{ name: string; value?: string }> }> } } };
    }>
  ).find((o) => o.kind === 'Deployment')!;
  const server = dep.spec.template.spec.containers.find((c) => c.name === 'server')!;
  return Object.fromEntries(server.env.map((v) => [v.name, v.value]));
};

describe('embedding services', () => {
  it('the catalogue has both kinds to check', () => {
    expect(embeddingModels.length).toBeGreaterThan(0);
    expect(chatModels.length).toBeGreaterThan(0);
  });

  for (const model of embeddingModels) {
    it(`${model.id}: synthesizes as an embedding service sized for one whole input per batch`, () => {
      const e = env({ embed: service(model) });
      const plan = synthesizeAll([e]).builds[0]!.services[0]!.service.plan;
      expect(plan.kind).toBe('embedding');
      expect(plan.parallel).toBe(1);
      expect(plan.batchSize).toBe(embeddingBatchSize(plan.contextSize));
      if (model.embedding?.kvCache === false) expect(plan.memory.kvCacheBytes).toBe(0);
      expect(plan.memory.attentionScratchBytes).toBe(model.headCount * plan.batchSize ** 2 * 4);
      expect(plan.timeouts.requestTimeoutSeconds).toBe(commonIdleTimeoutSeconds);
      expect(plan.timeouts.sseKeepAliveSeconds).toBe(0);
      expect(plan.slowTimeToFirstTokenSeconds).toBeUndefined();
      expect(plan.slowEmbeddingRequestSeconds).toBe(plan.timeouts.requestTimeoutSeconds / 2);
      const vars = serverEnv(e, 'embed');
      expect(vars[envVars.serviceKind]).toBe('embedding');
      expect(vars[envVars.batchSize]).toBe(String(plan.batchSize));
      for (const name of chatOnlyEnvVars) expect(vars[name], name).toBeUndefined();
    });

    it(`${model.id}: the request timeout follows the quietest hop on the path`, () => {
      const plan = synthesizeAll([env({ embed: service(model, { pathIdleTimeoutsSeconds: [45, 300] }) })]).builds[0]!.services[0]!.service.plan;
      expect(plan.timeouts.requestTimeoutSeconds).toBe(45);
    });

    it(`${model.id}: chat-only props are refused with the file, the service, the field and the fix`, () => {
      const chatOnly: Array<[string, Partial<ServiceDeclaration>]> = [
        ['parallel', { parallel: 2 }],
        ['maxCompletionLength', { maxCompletionLength: 256 }],
        ['slowTimeToFirstTokenSeconds', { slowTimeToFirstTokenSeconds: 5 }],
        ['overrides.sseKeepAliveSeconds', { overrides: { sseKeepAliveSeconds: 10 } }],
      ];
      for (const [field, over] of chatOnly) {
        let error: unknown;
        try {
          synthesizeAll([env({ embed: service(model, over) })]);
        } catch (err) {
          error = err;
        }
        expect(error, field).toBeInstanceOf(ChartConfigError);
        const message = (error as Error).message;
        expect(message).toContain(file);
        expect(message).toContain('test/embed');
        expect(message).toContain(field);
        expect(message).toContain(`remove ${field}`);
      }
    });

    it(`${model.id}: asked to serve chat, synth fails with service-kind-matches-model`, () => {
      let error: unknown;
      try {
        synthesizeAll([env({ embed: service(model, { serviceKind: 'chat' }) })]);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RuleViolationError);
      const findings = (error as RuleViolationError).report.errors;
      expect(findings.map((f) => f.ruleId)).toEqual(['service-kind-matches-model']);
      expect(findings[0]!.message).toContain(`${model.id} is an embedding model`);
      expect((error as Error).message).toContain(file);
    });
  }

  for (const model of chatModels) {
    it(`${model.id}: stays a chat service, and asked to serve embeddings fails synth`, () => {
      const plan = synthesizeAll([env({ chat: service(model, { waivers: {} }) })]).builds[0]!.services[0]!.service.plan;
      expect(plan.kind).toBe('chat');
      expect(plan.slowEmbeddingRequestSeconds).toBeUndefined();
      let error: unknown;
      try {
        synthesizeAll([env({ chat: service(model, { serviceKind: 'embedding', waivers: {} }) })]);
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RuleViolationError);
      expect((error as RuleViolationError).report.errors.map((f) => f.ruleId)).toContain('service-kind-matches-model');
    });
  }
});

/**
 * CORS per service: the `corsOrigins` prop becomes CORS_ORIGINS on the server container (the service reads it
 * with the same parser, service/contract.ts parseCorsOrigins), absent means no variable, and a bad origin is a
 * synth failure naming the prop.
 */
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { GgufInferenceService } from '../../charts/constructs/gguf-inference-service.js';
import type { InferenceServiceProps } from '../../charts/constructs/props.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { loadConfig } from '../../service/config.js';
import { envVars } from '../../service/contract.js';
import type { K8sObject } from '../support/manifests.js';

const base: InferenceServiceProps = {
  environment: 'test',
  definedIn: 'test/charts/cors.test.ts',
  model: qwen25_3bInstructQ4KM,
  image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
  modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' },
};

function serverEnv(props: Partial<InferenceServiceProps>): Map<string, string | undefined> {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'ns', disableResourceNameHashes: true });
  new GgufInferenceService(chart, 'llm', { ...base, ...props });
  const deployment = (Testing.synth(chart) as K8sObject[]).find((o) => o.kind === 'Deployment') as unknown as {
    spec: { template: { spec: { containers: Array<{ name: string; env: Array<{ name: string; value?: string }> }> } } };
  };
  const server = deployment.spec.template.spec.containers.find((c) => c.name === 'server');
  return new Map((server?.env ?? []).map((e) => [e.name, e.value]));
}

describe('corsOrigins', () => {
  it('sets CORS_ORIGINS, which the service reads back as the same list', () => {
    const origins = ['https://chat.example.com', 'http://localhost:3000'];
    const value = serverEnv({ corsOrigins: origins }).get(envVars.corsOrigins);
    expect(value).toBe('https://chat.example.com,http://localhost:3000');
    expect(loadConfig({ [envVars.corsOrigins]: value }).corsOrigins).toEqual(origins);
  });

  it('is off by default: no variable', () => {
    expect(serverEnv({}).has(envVars.corsOrigins)).toBe(false);
  });

  it('refuses a URL with a path, an empty list, and * beside origins, naming the prop and the fix', () => {
    for (const corsOrigins of [['https://chat.example.com/app'], [], ['*', 'https://a.example']]) {
      let error: unknown;
      try {
        serverEnv({ corsOrigins });
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(corsOrigins)).toBeInstanceOf(ChartConfigError);
      const message = (error as Error).message;
      expect(message).toContain('test/charts/cors.test.ts');
      expect(message).toContain('corsOrigins');
      expect(message).toContain('Fix:');
    }
  });
});

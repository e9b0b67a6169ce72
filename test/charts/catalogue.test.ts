import { readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Environment } from '../../charts/environments/types.js';
import { ChartConfigError } from '../../charts/lib/config-error.js';
import { catalogueEntries, checkCatalogue, qwen25_3bInstructQ4KM } from '../../charts/models/catalogue.js';
import { renderRegistry, scanEntries } from '../../charts/models/registry.js';
import type { ModelSpec } from '../../charts/models/types.js';
import { knownQuantizations, validateModelSpec } from '../../charts/models/validate.js';
import { estimateMemory } from '../../charts/sizing/memory.js';
import { synthesizeAll } from '../../charts/synth.js';
import { ensureTestModel } from '../../tools/test-model/make-test-model.js';
import { buildEntry } from '../../tools/model-add/entry.js';
import { inspectModel } from '../../tools/model-add/inspect.js';
import { roomyTestCluster } from '../support/clusters.js';

const repoRoot = path.resolve(import.meta.dirname, '..', '..');

function env(model: ModelSpec): Environment {
  return {
    name: 'catalogue',
    definedIn: 'test/charts/catalogue.test.ts',
    namespace: 'llm-catalogue',
    clusterName: 'test',
    cluster: roomyTestCluster(),
    image: 'ghcr.io/gguf-on-k8s/inference:1.2.3',
    services: {
      chat: { model, cpu: 2, contextSize: 1024, parallel: 1, maxCompletionLength: 512, modelCache: { kind: 'persistentVolumeClaim', storageClassName: 'gp3' } },
    },
  };
}

/** The one-line problems synth reports for a model, or [] when it synthesizes. */
function synthProblems(model: ModelSpec): string[] {
  try {
    synthesizeAll([env(model)]);
    return [];
  } catch (err) {
    if (err instanceof ChartConfigError)
      return err.message
        .split('\n')
        .slice(1)
        .map((l) => l.trim());
    throw err;
  }
}

describe('the catalogue', () => {
  it('every registered entry passes the checks, and ids are unique', () => {
    expect(() => checkCatalogue()).not.toThrow();
    expect(new Set(catalogueEntries.map((e) => e.model.id)).size).toBe(catalogueEntries.length);
  });

  it('the registry lists exactly the entry files of its folder', () => {
    const dir = path.join(repoRoot, 'charts', 'models', 'entries');
    expect(readFileSync(path.join(dir, 'index.ts'), 'utf8')).toBe(renderRegistry(scanEntries(dir), 'charts/models/entries'));
  });

  it('duplicate ids fail naming both files', () => {
    const twice = [catalogueEntries[0]!, { file: 'charts/models/entries/copy.ts', model: catalogueEntries[0]!.model }];
    expect(() => checkCatalogue(twice)).toThrow(/copy\.ts: model .*: id: is also the id of the entry in charts\/models\/entries\//);
  });

  it('every quantization llama.cpp writes is accepted (Q6_K, IQ3_M, BF16 ...), and sizes a manifest', () => {
    for (const q of ['Q6_K', 'IQ3_M', 'IQ2_XXS', 'Q5_K_S', 'BF16', 'Q8_0', 'TQ2_0']) expect(knownQuantizations.has(q), q).toBe(true);
    // A Q6_K file of the 3B shape (6.56 bits per weight x 3.09 B parameters): no NaN, a whole manifest.
    const q6 = {
      ...qwen25_3bInstructQ4KM,
      id: 'qwen-q6',
      sha256: undefined,
      quantization: 'Q6_K',
      fileBytes: 2_540_000_000,
      integrity: { status: 'unverified' as const, reason: 'test' },
    };
    expect(synthProblems(q6)).toEqual([]);
    expect(Number.isFinite(estimateMemory({ model: q6, contextSize: 4096, parallel: 2, batchSize: 512, gpuOffload: true }).requestBytes)).toBe(true);
  });
});

describe('mistyped hand edits fail synth naming the file, the entry and the field', () => {
  const file = 'charts/models/entries/qwen2.5-3b-instruct-q4_k_m.ts';
  const cases: Array<[string, Partial<ModelSpec>, RegExp]> = [
    ['KV heads that do not divide the query heads', { kvHeads: 3 }, /kvHeads: 3 KV heads do not divide 16 query heads/],
    ['more KV heads than query heads', { kvHeads: 32 }, /kvHeads: 32 KV heads do not divide 16 query heads/],
    [
      'fileBytes missing a digit',
      { fileBytes: 210_493_276 },
      /fileBytes: 210493276 bytes for 3090000000 parameters is 0\.54 bits per weight, impossible for Q4_K_M/,
    ],
    ['fileBytes with a digit too many', { fileBytes: 21_049_327_680 }, /fileBytes: .* impossible for Q4_K_M/],
    ['an unknown quantization', { quantization: 'Q4_K_X' }, /quantization: "Q4_K_X" is not a quantization llama\.cpp writes/],
    ['a head width that is no width', { headDim: 0 }, /headDim: 0 is not a head width/],
    ['a sha256 that is not one', { sha256: 'abc' }, /sha256: "abc" is not 64 lower-case hex digits/],
    ['a split model without its parts', { source: 'hf:Qwen/x/m-00001-of-00003.gguf' }, /parts: .* is one part of a split model, and the entry lists no parts/],
  ];
  for (const [what, edit, message] of cases) {
    it(what, () => {
      const problems = synthProblems({ ...qwen25_3bInstructQ4KM, ...edit });
      expect(
        problems.some((p) => p.startsWith(`- ${file}: model ${qwen25_3bInstructQ4KM.id}: `) && message.test(p)),
        problems.join('\n'),
      ).toBe(true);
    });
  }
});

describe('an entry written by model:add refuses later edits that contradict its header', () => {
  let entry: ModelSpec;
  beforeAll(async () => {
    const file = await ensureTestModel();
    entry = buildEntry(await inspectModel({ ref: file }), { source: `hf:test/repo/${path.basename(file)}` });
  }, 60_000);

  it('as written, it passes', () => {
    expect(validateModelSpec(entry, 'x.ts')).toEqual([]);
  });

  it("kvHeads 1 instead of the header's value (divides the heads, so only the header can tell) fails naming the field", () => {
    const problems = validateModelSpec({ ...entry, kvHeads: 1 }, 'charts/models/entries/x.ts');
    expect(problems).toEqual([
      expect.objectContaining({
        file: 'charts/models/entries/x.ts',
        object: `model ${entry.id}`,
        field: 'kvHeads',
        problem: `is 1 but the GGUF header says ${entry.kvHeads}`,
      }),
    ]);
  });

  it('a fileBytes missing a digit fails against the tensor bytes and the listing', () => {
    const fields = validateModelSpec({ ...entry, fileBytes: Math.floor(entry.fileBytes / 10), parts: undefined, sha256: undefined }, 'x.ts').map(
      (p) => p.field,
    );
    expect(fields).toContain('fileBytes');
  });
});

describe('Hugging Face access per service', () => {
  it('puts HF_ENDPOINT and HF_TOKEN (from the Secret) on the init container and the server', () => {
    const e = env(qwen25_3bInstructQ4KM);
    const withHub: Environment = {
      ...e,
      services: { chat: { ...e.services.chat!, huggingFace: { endpoint: 'https://hf-mirror.internal', tokenSecret: { name: 'hf', key: 'token' } } } },
    };
    const out = synthesizeAll([withHub]);
    const deployment = [...out.files.entries()].find(([f, y]) => f.startsWith('dist/catalogue/') && y.includes('kind: Deployment'))![1];
    // Once in the init container's env and once in the server's.
    expect(deployment.match(/name: HF_ENDPOINT\s+value: https:\/\/hf-mirror\.internal/g)?.length).toBe(2);
    expect(deployment.match(/name: HF_TOKEN\s+valueFrom:\s+secretKeyRef:\s+key: token\s+name: hf/g)?.length).toBe(2);
  });

  it('refuses an endpoint that is no URL, and hub settings on a model that is not an hf: source', () => {
    const e = env(qwen25_3bInstructQ4KM);
    const bad = (huggingFace: NonNullable<Environment['services'][string]['huggingFace']>, model: ModelSpec = qwen25_3bInstructQ4KM): Environment => ({
      ...e,
      services: { chat: { ...e.services.chat!, model, huggingFace } },
    });
    expect(() => synthesizeAll([bad({ endpoint: 'hf-mirror' })])).toThrow(/huggingFace\.endpoint: "hf-mirror" is not an http\(s\) URL/);
    expect(() =>
      synthesizeAll([bad({ endpoint: 'https://m' }, { ...qwen25_3bInstructQ4KM, source: 'https://mirror/x/qwen2.5-3b-instruct-q4_k_m.gguf' })]),
    ).toThrow(/huggingFace: is set but .* is not an hf: source/);
  });
});

/**
 * One engine boundary: every entry point builds its engine options from the configuration through
 * service/engine-options.ts, so a setting cannot reach one entry point and miss another.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../service/config.js';
import { envVars } from '../../service/contract.js';
import { engineOptions } from '../../service/engine-options.js';
import { repoRoot } from './helpers.js';

const log = pino({ level: 'silent' });

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => path.join(e.parentPath, e.name));
}

describe('engineOptions', () => {
  it('maps every engine setting of the configuration', () => {
    const config = loadConfig({
      [envVars.model]: '/m/x.gguf',
      [envVars.contextSize]: '2048',
      [envVars.parallel]: '3',
      [envVars.maxQueue]: '7',
      [envVars.gpuLayers]: '0',
      [envVars.batchSize]: '256',
      [envVars.promptCache]: 'off',
    });
    const options = engineOptions(config, { threads: 2, log });
    expect(options).toMatchObject({
      modelPath: '/m/x.gguf',
      threads: 2,
      contextSize: 2048,
      parallel: 3,
      maxQueue: 7,
      gpuLayers: 0,
      batchSize: 256,
      promptReuse: false,
    });
    expect(engineOptions(loadConfig({}), { threads: 1, log }).promptReuse).toBe(true);
    expect(engineOptions(loadConfig({ [envVars.serviceKind]: 'embedding' }), { threads: 1, log }).kind).toBe('embedding');
  });

  it('is the only way any entry point constructs an InferenceEngine', () => {
    const files = ['service', 'bench', 'tools'].flatMap((d) => sourceFiles(path.join(repoRoot, d)));
    const constructions = files.flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      return [...text.matchAll(/new InferenceEngine\(\s*([a-zA-Z]+)/g)].map((m) => ({ file: path.relative(repoRoot, file), argument: m[1] }));
    });
    // Negative control: the scan finds the entry points (app.ts, server.ts) at all.
    expect(constructions.map((c) => c.file).sort()).toEqual(expect.arrayContaining(['service/app.ts', 'service/server.ts']));
    expect(constructions.filter((c) => c.argument !== 'engineOptions')).toEqual([]);
  });
});

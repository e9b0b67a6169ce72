/**
 * The init container's entry point: makes sure MODEL is present and verified in MODEL_CACHE_DIR before the
 * serving container starts, so the server never downloads on its critical path.
 *
 * Exit codes: 0 ready; 1 failed (one JSON log line says why and what to do); 143 stopped by SIGTERM
 * (the `.partial` file is kept and the next run resumes it).
 */
import pino from 'pino';
import { environmentVariableHelp, wantsHelp } from './config.js';
import { defaultModel, defaultModelCacheDir, envVars } from './contract.js';
import { acquireModel, ModelAcquireError, redactModelRef } from './model/acquire.js';

if (wantsHelp(process.argv.slice(2))) {
  process.stdout.write(
    [
      'usage: npm run fetch-model   (the init container runs: node build/service/fetch-model.js)',
      '',
      'Downloads MODEL into MODEL_CACHE_DIR (resuming a .partial file), verifies it and exits:',
      '0 ready, 1 failed (one JSON log line says why), 143 stopped by SIGTERM. Reads:',
      ...environmentVariableHelp([envVars.model, envVars.modelSha256, envVars.modelCacheDir, envVars.logLevel]),
      '',
    ].join('\n'),
  );
  process.exit(0);
}

function env(name: string): string | undefined {
  const v = process.env[name]?.trim();
  return v === undefined || v === '' ? undefined : v;
}

const requestedLevel = env(envVars.logLevel) ?? 'info';
const levelOk = requestedLevel in pino.levels.values || requestedLevel === 'silent';
const log = pino({
  name: 'fetch-model',
  level: levelOk ? requestedLevel : 'info',
  timestamp: pino.stdTimeFunctions.isoTime,
});
if (!levelOk) log.warn(`${envVars.logLevel}="${requestedLevel}" is not a pino level; using info`);

const controller = new AbortController();
let stoppedBy: NodeJS.Signals | undefined;
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    stoppedBy = sig;
    log.warn({ signal: sig }, 'stopping: aborting the download (the .partial file is kept for resuming)');
    controller.abort();
  });
}

const model = env(envVars.model) ?? defaultModel;
// MODEL may carry credentials or a signed-URL token: only this form is ever logged.
const modelForLog = redactModelRef(model);
const sha256 = env(envVars.modelSha256);
const cacheDir = env(envVars.modelCacheDir) ?? defaultModelCacheDir;

try {
  const started = Date.now();
  const result = await acquireModel({
    model,
    ...(sha256 === undefined ? {} : { sha256 }),
    cacheDir,
    log,
    signal: controller.signal,
  });
  log.info(
    {
      path: result.path,
      bytes: result.bytes,
      downloaded: result.downloaded,
      verified: result.verified,
      sha256: result.sha256,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    },
    result.downloaded ? 'model ready (downloaded)' : 'model ready (no download needed)',
  );
  process.exitCode = 0;
} catch (err) {
  if (stoppedBy !== undefined && controller.signal.aborted) {
    log.warn({ signal: stoppedBy }, 'stopped before the model was ready; the next run resumes the download');
    process.exitCode = 128 + (stoppedBy === 'SIGTERM' ? 15 : 2);
  } else if (err instanceof ModelAcquireError) {
    log.error({ code: err.code, model: modelForLog }, err.message);
    process.exitCode = 1;
  } else {
    const message = err instanceof Error ? err.message : String(err);
    log.error({ model: modelForLog, stack: err instanceof Error ? err.stack : undefined }, `fetch-model failed unexpectedly: ${message}`);
    process.exitCode = 1;
  }
}

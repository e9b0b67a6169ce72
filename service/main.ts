/**
 * Entry point of the inference server (`npm run serve`, the container's `node build/service/main.js`).
 *
 * Reads the configuration (a bad variable: one line on stderr naming it, exit 1) and runs
 * `runServer` (see server.ts for start-up order and graceful shutdown). Importing this module
 * has no side effects; it runs only when executed directly.
 */
import { pathToFileURL } from 'node:url';
import { ConfigError, environmentVariableHelp, loadConfig, wantsHelp, type Config } from './config.js';
import type { RunningServer } from './server.js';

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<RunningServer | undefined> {
  let config: Config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // Loaded after validation so a config error exits before node-llama-cpp is even imported.
  const { runServer } = await import('./server.js');
  return runServer(config);
}

/** `--help`: what the server reads, from ConfigSchema; printed without loading a model or binding a port. */
export function serverUsage(): string {
  return [
    'usage: npm run serve   (the container runs: node build/service/main.js)',
    '',
    'Serves MODEL over an OpenAI-compatible API. Configured only by environment variables:',
    ...environmentVariableHelp(),
    '',
  ].join('\n');
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href && wantsHelp(process.argv.slice(2))) {
  process.stdout.write(serverUsage());
} else if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  main().catch((err: unknown) => {
    process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}

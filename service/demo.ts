/**
 * `npm run demo`: the real server on a random-weight test model, no download needed.
 *
 * Generates (once, cached under .cache/test-models) a tiny qwen2 GGUF with the real Qwen2 tokenizer
 * and ChatML template, then runs exactly the production path (`main`) with MODEL pointing at it,
 * on 127.0.0.1:8080 unless HOST / PORT say otherwise. The output is gibberish by design: the point
 * is the API, streaming, probes, metrics and shutdown, not the text.
 */
import { envVars } from './contract.js';
import { main } from './main.js';
import { ensureTestModel } from '../tools/test-model/make-test-model.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    'usage: npm run demo\n\nServes a generated random-weight model (gibberish answers, real API) on 127.0.0.1:8080 (HOST, PORT),\n' +
      'offline; prints curl commands to try. The variables of npm run serve apply (npm run serve -- --help).\n',
  );
  process.exit(0);
}

const banner = [
  '='.repeat(72),
  'DEMO: random-weight test model, output is gibberish',
  'The API, streaming, health probes, metrics and shutdown are the real ones.',
  '='.repeat(72),
].join('\n');
process.stderr.write(`${banner}\n`);

const modelPath = await ensureTestModel({ shape: 'tiny' });
const env: NodeJS.ProcessEnv = {
  ...process.env,
  [envVars.model]: modelPath,
  [envVars.host]: process.env[envVars.host] || '127.0.0.1',
};
const server = await main(env);
if (server) {
  process.stderr.write(
    [
      '',
      `DEMO ready at ${server.url} (model ${server.app.llm.engine.modelId}); try:`,
      `  curl -s ${server.url}/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":16}'`,
      `  curl -sN ${server.url}/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"messages":[{"role":"user","content":"Hello"}],"max_tokens":16,"stream":true}'`,
      `  curl -s ${server.url}/health/ready; curl -s ${server.url}/metrics | grep ^llm_`,
      'Stop with Ctrl-C (graceful shutdown).',
      '',
    ].join('\n'),
  );
}

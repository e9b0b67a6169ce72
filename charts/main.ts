/**
 * `npm run synth` (and `cdk8s synth`, which runs this file): writes dist/<environment>/, argocd/ and
 * the generated docs from the typed environments. The only entry point that writes files; tests
 * import charts/synth.ts instead. Everything is synthesized and checked in memory first, so a
 * failure of any kind leaves the committed files byte for byte as they were.
 */
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(
    [
      'usage: npm run synth',
      '',
      'Synthesizes every environment of charts/environments/ into dist/<environment>/, the Argo CD objects into',
      'argocd/ and the generated docs, after checking every synth rule against each cluster profile. Everything is',
      'built in memory first: on any failure nothing is written. Prints a summary per environment.',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

try {
  const { synthesizeAll, writeCliOutput, writeOutput } = await import('./synth.js');
  const { printSummary } = await import('./summary.js');
  const output = synthesizeAll();
  writeOutput(root, output);
  const cliOutdir = process.env.CDK8S_OUTDIR;
  if (cliOutdir) writeCliOutput(root, cliOutdir, output);
  printSummary(output);
} catch (error) {
  // By name: importing the classes would load the environments outside the try.
  if (error instanceof Error && (error.name === 'ChartConfigError' || error.name === 'RuleViolationError')) {
    process.stderr.write(`synth failed: ${error.message}\nNothing was written: dist/ and argocd/ are unchanged.\n`);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`synth failed: ${message.split('\n')[0]}\nNothing was written: dist/ and argocd/ are unchanged.\n`);
  }
  process.exit(1);
}

/**
 * `npm run image:digests -- <command>`: the steps of .github/workflows/image.yml that touch the repository.
 * Bad input ends with one line on stderr and exit code 1; nothing is written.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildPlan, describeDigests, planOutputs, readDigests, UsageError, withEntry, writeDigests } from './digests.js';

const defaultFile = fileURLToPath(new URL('../../charts/images.json', import.meta.url));

const help = `usage: npm run image:digests -- <command> [options]

Commands:
  plan --ref REF --sha SHA
      What to build for a push of REF (refs/tags/v<version> = release, refs/heads/main = dev) at commit SHA:
      channel, registry, repository and per image its Dockerfile target, platforms, tag and reference, as
      key=value lines for $GITHUB_OUTPUT.
  set --image ID --tag TAG --digest sha256:HEX [--repository REPO] [--file FILE]
      Record what a push produced in the digests file (default charts/images.json); the charts then pin every
      reference to ID as REPO:TAG@sha256:HEX. Run \`npm run synth\` afterwards.
  show [--file FILE]
      Each published image and the reference the charts use for it.

Options:
  -h, --help   this text
`;

function main(argv: readonly string[]): void {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      help: { type: 'boolean', short: 'h' },
      ref: { type: 'string' },
      sha: { type: 'string' },
      image: { type: 'string' },
      tag: { type: 'string' },
      digest: { type: 'string' },
      repository: { type: 'string' },
      file: { type: 'string' },
    },
  });
  const command = positionals[0];
  if (values.help === true || command === 'help') {
    process.stdout.write(help);
    return;
  }
  if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}" (run with --help)`);
  const need = (name: keyof typeof values): string => {
    const v = values[name];
    if (typeof v !== 'string' || v === '') throw new UsageError(`${command} needs --${name} (run with --help)`);
    return v;
  };
  const file = values.file ?? defaultFile;
  switch (command) {
    case 'plan':
      process.stdout.write(`${planOutputs(buildPlan(need('ref'), need('sha'))).join('\n')}\n`);
      return;
    case 'set': {
      const entry = {
        image: need('image'),
        tag: need('tag'),
        digest: need('digest'),
        ...(values.repository !== undefined ? { repository: values.repository } : {}),
      };
      const next = withEntry(readDigests(file), entry);
      writeDigests(file, next);
      process.stdout.write(
        `${file}: ${entry.image} -> ${
          describeDigests(next)
            .find((l) => l.startsWith(`${entry.image}\t`))
            ?.split('\t')[1]
        }\n`,
      );
      return;
    }
    case 'show':
      process.stdout.write(`${describeDigests(readDigests(file)).join('\n')}\n`);
      return;
    case undefined:
      throw new UsageError('no command given: plan, set or show (run with --help)');
    default:
      throw new UsageError(`unknown command "${command}": plan, set or show (run with --help)`);
  }
}

try {
  main(process.argv.slice(2));
} catch (error) {
  // parseArgs reports unknown options with a TypeError whose code starts ERR_PARSE_ARGS.
  const known = error instanceof UsageError || (error instanceof Error && String((error as { code?: unknown }).code ?? '').startsWith('ERR_PARSE_ARGS'));
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`image-digests: ${known ? message : `unexpected failure: ${message.split('\n')[0]}`}\n`);
  process.exit(1);
}

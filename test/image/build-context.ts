/**
 * The Docker build context, as Docker assembles it: every file under the repository root that
 * `.dockerignore` does not exclude. The matching is @balena/dockerignore, a port of Docker's own
 * pattern matcher (moby/patternmatcher: `!` exceptions, last match wins, a pattern that matches a
 * directory excludes or admits everything under it, paths cleaned like Go's filepath.Clean).
 */
import dockerignore from '@balena/dockerignore';
import { copyFileSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

// A CommonJS module whose typings declare `export default`: under NodeNext the default import is the
// whole module, and the package sets `factory.default = factory` for exactly this case.
const ignore = dockerignore.default;

export const dockerignoreFile = '.dockerignore';

/** The patterns of `.dockerignore` (comments and blank lines dropped, as Docker's reader does). */
export function dockerignorePatterns(root: string): string[] {
  const file = join(root, dockerignoreFile);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

/**
 * Whether the walk must look inside an excluded directory: only when an exception (`!pattern`) could
 * admit something below it. Docker's walker (tonistiigi/fsutil walker.go) prunes the same way; here the
 * test is conservative (any exception with a wildcard, or one naming a path under the directory).
 */
function exceptionCouldMatchUnder(dir: string, patterns: readonly string[]): boolean {
  return patterns
    .filter((p) => p.startsWith('!'))
    .map((p) => p.slice(1).replace(/^\/+/, ''))
    .some((p) => /[*?[\\]/.test(p) || p.startsWith(`${dir}/`));
}

/** Paths (relative, `/`-separated, files and symlinks only) Docker sends as the build context of `root`. */
export function contextFiles(root: string): string[] {
  const patterns = dockerignorePatterns(root);
  const matcher = ignore().add(patterns);
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const excluded = matcher.ignores(path);
      if (entry.isDirectory()) {
        if (!excluded || exceptionCouldMatchUnder(path, patterns)) walk(path);
      } else if (!excluded) {
        files.push(path);
      }
    }
  };
  walk('');
  return files.sort();
}

/** Copies the build context of `root` into `dest` (created); returns the copied paths. */
export function assembleContext(root: string, dest: string): string[] {
  const files = contextFiles(root);
  for (const file of files) {
    const target = join(dest, file);
    mkdirSync(dirname(target), { recursive: true });
    if (lstatSync(join(root, file)).isSymbolicLink()) {
      throw new Error(`${file} is a symbolic link; the build context should hold plain files`);
    }
    copyFileSync(join(root, file), target);
  }
  return files;
}

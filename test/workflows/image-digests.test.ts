/** tools/image-digests: the plan for a ref, recording a digest, and the CLI's errors (one line, exit 1, nothing written). */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { imageRepository, packageVersion, publishedImageIds, publishedImages } from '../../charts/environments/published-images.js';
import { parseImageDigests } from '../../charts/lib/image-digests.js';
import { buildPlan, checkEntry, planOutputs, readDigests, UsageError, withEntry, writeDigests } from '../../tools/image-digests/digests.js';
import { repoRoot } from '../support/manifests.js';

const sha = '0123456789abcdef0123456789abcdef01234567';
const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const scratch = mkdtempSync(join(tmpdir(), 'image-digests-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const run = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'tools/image-digests/main.ts'), ...args], { encoding: 'utf8', cwd: repoRoot });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

describe('buildPlan', () => {
  it('a v<version> tag is the release channel: every published image at its version tag, target and platforms', () => {
    const plan = buildPlan(`refs/tags/v${packageVersion}`, sha);
    expect(plan.channel).toBe('release');
    expect(plan.images.map((i) => i.id)).toEqual(publishedImageIds);
    for (const i of plan.images) {
      expect(i.tag).toBe(`${packageVersion}${publishedImages[i.id].tagSuffix}`);
      expect(i.reference).toBe(`${imageRepository}:${i.tag}`);
      expect(i.target).toBe(publishedImages[i.id].target);
    }
    expect(new Set(plan.images.map((i) => i.tag)).size).toBe(plan.images.length);
  });

  it('main is the dev channel: one tag per commit, distinct per image', () => {
    const plan = buildPlan('refs/heads/main', sha);
    expect(plan.channel).toBe('dev');
    for (const i of plan.images) expect(i.tag).toBe(`main-${sha.slice(0, 12)}${publishedImages[i.id].tagSuffix}`);
  });

  it("the registry host follows Docker's rule: a dot, a port or localhost, else docker.io", () => {
    expect(buildPlan('refs/heads/main', sha).registry).toBe(imageRepository.split('/')[0]);
  });

  it('refuses a tag that is not the package version, another branch, and a malformed sha', () => {
    expect(() => buildPlan('refs/tags/v9.9.9', sha, '0.1.0')).toThrow(/tag v9.9.9 does not match package.json version 0.1.0/);
    expect(() => buildPlan('refs/heads/feature', sha)).toThrow(UsageError);
    expect(() => buildPlan('refs/heads/main', 'abc')).toThrow(/not a 40-character/);
  });

  it('plan outputs are key=value lines without newlines in values', () => {
    for (const line of planOutputs(buildPlan('refs/heads/main', sha))) expect(line).toMatch(/^[a-z_]+=[^\n=]+$/);
  });
});

describe('recording a digest', () => {
  it('refuses an unknown image, a malformed digest, an invalid tag and another repository, naming the fix', () => {
    const ok = { image: 'inference', tag: '0.1.0', digest: digest('a') };
    expect(() => checkEntry({ ...ok, image: 'inferense' })).toThrow(/unknown image "inferense": the published images are inference, inference-cuda/);
    expect(() => checkEntry({ ...ok, digest: 'sha256:abc' })).toThrow(/not a sha256 digest/);
    expect(() => checkEntry({ ...ok, digest: 'a'.repeat(64) })).toThrow(/lacks the "sha256:" algorithm prefix/);
    expect(() => checkEntry({ ...ok, digest: `sha256:${'A'.repeat(64)}` })).toThrow(/upper-case hex/);
    expect(() => checkEntry({ ...ok, tag: 'bad tag' })).toThrow(/not a valid image tag/);
    expect(() => checkEntry({ ...ok, repository: 'docker.io/someone/else' })).toThrow(/is not charts\/site.ts imageRepository/);
    expect(checkEntry(ok)).toEqual({ id: 'inference', repository: imageRepository, tag: '0.1.0', digest: digest('a') });
  });

  it('writes a file the charts parse back, keeping the other images', () => {
    const file = join(scratch, 'images.json');
    writeFileSync(file, '{}\n');
    writeDigests(file, withEntry(readDigests(file), { image: 'inference-cuda', tag: '0.1.0-cuda', digest: digest('b') }));
    writeDigests(file, withEntry(readDigests(file), { image: 'inference', tag: '0.1.0', digest: digest('c') }));
    const parsed = parseImageDigests(readFileSync(file, 'utf8'), file, publishedImageIds);
    expect(parsed['inference-cuda']?.digest).toBe(digest('b'));
    expect(parsed.inference?.digest).toBe(digest('c'));
    expect(readFileSync(file, 'utf8')).toMatch(/^\{\n {2}"inference": \{/);
  });

  it('the committed digests file parses (no invented digests: every entry names a real image id)', () => {
    expect(() => readDigests(join(repoRoot, 'charts/images.json'))).not.toThrow();
  });
});

describe('parseImageDigests', () => {
  const ids = publishedImageIds;
  const record = { repository: imageRepository, tag: '0.1.0', digest: digest('e') };
  it('names the file, the image and the field of every kind of mistake', () => {
    const cases: Array<[string, RegExp]> = [
      ['{', /^f\.json: is not JSON/],
      ['[]', /^f\.json: is not a JSON object/],
      [JSON.stringify({ gpu: record }), /^f\.json: gpu: unknown image id \(known: inference, inference-cuda\)/],
      [JSON.stringify({ inference: 'sha256:abc' }), /^f\.json: inference: is "sha256:abc", not an object/],
      [JSON.stringify({ inference: { ...record, sha: 'x' } }), /^f\.json: inference: sha: unknown field/],
      [JSON.stringify({ inference: { ...record, tag: undefined } }), /^f\.json: inference: tag: missing/],
      [JSON.stringify({ inference: { ...record, repository: `${imageRepository}:0.1.0` } }), /^f\.json: inference: repository: .* is not a repository/],
      [
        JSON.stringify({ inference: { ...record, digest: digest('e').toUpperCase().replace('SHA256', 'sha256') } }),
        /^f\.json: inference: digest: .*upper-case/,
      ],
    ];
    for (const [text, expected] of cases) expect(() => parseImageDigests(text, 'f.json', ids), text).toThrow(expected);
    expect(parseImageDigests('{}', 'f.json', ids)).toEqual({});
    expect(parseImageDigests(JSON.stringify({ inference: record }), 'f.json', ids)).toEqual({ inference: record });
  });
});

describe('CLI', () => {
  it('--help exits 0 and names every command', () => {
    const run = cli('--help');
    expect(run.status).toBe(0);
    for (const c of ['plan', 'set', 'show']) expect(run.stdout).toContain(`  ${c}`);
  });

  it('bad input: one line on stderr, exit 1, the file untouched', () => {
    const file = join(scratch, 'cli.json');
    copyFileSync(join(repoRoot, 'charts/images.json'), file);
    const before = readFileSync(file, 'utf8');
    const cases: Array<[string[], RegExp]> = [
      [['set', '--file', file, '--image', 'inference', '--tag', '0.1.0', '--digest', 'sha256:xyz'], /--digest "sha256:xyz" is not a sha256 digest/],
      [['set', '--file', file, '--image', 'gpu', '--tag', '0.1.0', '--digest', digest('d')], /unknown image "gpu"/],
      [['set', '--file', file, '--image', 'inference', '--digest', digest('d')], /set needs --tag/],
      [['plan', '--ref', 'refs/tags/v0.0.0-nope', '--sha', sha], /does not match package.json version/],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['show', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, expected] of cases) {
      const run = cli(...args);
      expect(run.status, args.join(' ')).toBe(1);
      expect(run.stderr, args.join(' ')).toMatch(expected);
      expect(run.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('a malformed digests file is named with the image and field', () => {
    const file = join(scratch, 'broken.json');
    writeFileSync(file, JSON.stringify({ inference: { repository: imageRepository, tag: '0.1.0', digest: 'sha256:123' } }));
    const run = cli('show', '--file', file);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/broken.json: inference: digest: "sha256:123" is not a sha256 digest/);
  });
});

/**
 * Pinned image references (issue 21 item 5): with a digest in the digests file, every container of every environment
 * that uses that image names it as repository:tag@sha256 and pulls it IfNotPresent; without one, the image is pulled
 * with Always and synth warns once per image; rule image-pinned refuses an unpinned reference in production. The
 * digests are written by this test, with the real tool, into a temporary copy of charts/images.json.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { publishedImageReference, imageDigestsFileEnv } from '../../charts/environments/image.js';
import { imageRepository, publishedImageIds, releaseTag, type PublishedImageId } from '../../charts/environments/published-images.js';
import type { Finding } from '../../charts/rules/types.js';
import type { Environment } from '../../charts/environments/types.js';
import { synthesizeAll } from '../../charts/synth.js';
import type * as SynthNamespace from '../../charts/synth.js';
import type * as EnvironmentsNamespace from '../../charts/environments/index.js';
import { pullPolicyFor } from '../../charts/lib/image.js';
import { repoRoot } from '../support/manifests.js';

type SynthModule = typeof SynthNamespace;
type EnvironmentsModule = typeof EnvironmentsNamespace;

const scratch = mkdtempSync(join(tmpdir(), 'image-pinning-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
afterEach(() => {
  vi.unstubAllEnvs();
  vi.resetModules();
});

/* eslint-disable @typescript-eslint/no-explicit-any -- manifests are read as plain JSON */
interface ContainerRef {
  readonly where: string;
  readonly image: string;
  readonly pullPolicy: string | undefined;
}

/** Every container (init and app) of every Deployment in the synthesized dist/ files. */
function containers(files: ReadonlyMap<string, string>): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const [file, text] of files) {
    if (!file.startsWith('dist/') || !file.endsWith('.yaml')) continue;
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJSON() as any;
      const pod = o?.kind === 'Deployment' ? o.spec.template.spec : undefined;
      if (pod === undefined) continue;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers])
        out.push({ where: `${file} ${o.metadata.name}/${c.name}`, image: c.image, pullPolicy: c.imagePullPolicy });
    }
  }
  return out;
}

/** The committed synth: which published image each container uses. */
const committed = synthesizeAll();
const committedContainers = containers(committed.files);
const usesOf = (id: PublishedImageId): string[] => committedContainers.filter((c) => c.image === publishedImageReference(id)).map((c) => c.where);
const usedIds = publishedImageIds.filter((id) => usesOf(id).length > 0);

/** A digest this test makes up for the copy only: the sha256 of random bytes. */
const madeUpDigest = (): string => `sha256:${createHash('sha256').update(randomBytes(32)).digest('hex')}`;

/** A copy of charts/images.json with these images recorded by `npm run image:digests -- set`. */
function digestsCopy(
  name: string,
  images: readonly PublishedImageId[],
  base = join(repoRoot, 'charts/images.json'),
): { file: string; pinned: Map<PublishedImageId, string> } {
  const file = join(scratch, `${name}.json`);
  copyFileSync(base, file);
  const pinned = new Map<PublishedImageId, string>();
  for (const id of images) {
    const tag = `test-${randomBytes(4).toString('hex')}${id.endsWith('cuda') ? '-cuda' : ''}`;
    const digest = madeUpDigest();
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(repoRoot, 'tools/image-digests/main.ts'), 'set', '--file', file, '--image', id, '--tag', tag, '--digest', digest],
      { encoding: 'utf8' },
    );
    expect(run.status, run.stderr).toBe(0);
    pinned.set(id, `${imageRepository}:${tag}@${digest}`);
  }
  return { file, pinned };
}

/** The charts loaded afresh, reading `file` as their digests file. */
async function chartsReading(file: string): Promise<{ synth: SynthModule; envs: EnvironmentsModule }> {
  vi.stubEnv(imageDigestsFileEnv, file);
  vi.resetModules();
  return { synth: await import('../../charts/synth.js'), envs: await import('../../charts/environments/index.js') };
}

const pinnedWarnings = (report: { warnings: readonly Finding[] }): Finding[] => report.warnings.filter((f) => f.ruleId === 'image-pinned');

describe('image references', () => {
  it('the shipped environments use the published images', () => {
    expect(usedIds.length).toBeGreaterThan(0);
  });

  it('with a digest recorded, every container using that image is repository:tag@sha256 and pulls IfNotPresent', async () => {
    const { file, pinned } = digestsCopy('all', usedIds);
    const { synth } = await chartsReading(file);
    const out = synth.synthesizeAll();
    const now = new Map(containers(out.files).map((c) => [c.where, c]));
    for (const id of usedIds) {
      const uses = usesOf(id);
      for (const where of uses) {
        expect(now.get(where)?.image, where).toBe(pinned.get(id));
        expect(now.get(where)?.pullPolicy, where).toBe('IfNotPresent');
      }
      // No file of dist/ names the unpinned reference any more.
      for (const [path, text] of out.files) if (path.startsWith('dist/')) expect(text, path).not.toContain(`${publishedImageReference(id)}\n`);
    }
    // Containers that used none of them are untouched.
    for (const c of committedContainers) if (!usedIds.some((id) => usesOf(id).includes(c.where))) expect(now.get(c.where)?.image).toBe(c.image);
    expect(pinnedWarnings(out.report)).toEqual([]);
    expect(out.unpublishedImages).toEqual([]);
  });

  it('negative control: the same copy without the digests leaves every reference on its tag, pulled Always, one warning per image', async () => {
    const file = join(scratch, 'empty.json');
    writeFileSync(file, '{}\n');
    const { synth } = await chartsReading(file);
    const out = synth.synthesizeAll();
    const now = new Map(containers(out.files).map((c) => [c.where, c]));
    for (const id of usedIds) {
      for (const where of usesOf(id)) {
        expect(now.get(where)?.image, where).toBe(`${imageRepository}:${releaseTag(id)}`);
        expect(now.get(where)?.pullPolicy, where).toBe('Always');
      }
    }
    // Once per image, apart from the per-service report.
    expect(pinnedWarnings(out.report)).toEqual([]);
    const warnings = out.unpublishedImages;
    expect(warnings).toHaveLength(usedIds.length);
    for (const id of usedIds) {
      const mine = warnings.filter((w) => w.message.startsWith(`image ${id} `));
      expect(mine, id).toHaveLength(1);
      const services = new Set(usesOf(id).map((where) => where.split(' ')[0]));
      expect(mine[0]!.message).toContain(`${services.size} service(s)`);
      expect(mine[0]!.fix).toMatch(/image\.yml builds, signs and pushes the images, records their digests in charts\/images\.json/);
    }
  });

  it('with one image pinned, only the other warns, once', async () => {
    const [first, ...rest] = usedIds;
    const emptyBase = join(scratch, 'empty-base.json');
    writeFileSync(emptyBase, '{}\n');
    const { file } = digestsCopy('one', [first!], emptyBase);
    const { synth } = await chartsReading(file);
    const warnings = synth.synthesizeAll().unpublishedImages;
    expect(warnings.map((w) => w.message.split(' ')[1])).toEqual(rest);
  });
});

describe('rule image-pinned', () => {
  /** An environment (the first marked production, else the first) with one service's image overridden. */
  async function productionWith(image: string, production: boolean | undefined): Promise<{ synth: SynthModule; env: Environment }> {
    const { file } = digestsCopy(`prod-${randomBytes(3).toString('hex')}`, usedIds);
    const charts = await chartsReading(file);
    const base = charts.envs.environments.find((e) => e.production === true) ?? charts.envs.environments[0];
    const [name, declaration] = Object.entries(base!.services)[0]!;
    return { synth: charts.synth, env: { ...base!, production, services: { ...base!.services, [name]: { ...declaration, image } } } };
  }

  it('refuses an unpinned reference in production, naming the file, the service and the fix', async () => {
    for (const image of ['registry.example/team/inference:1.2.3', `${imageRepository}:0.1.0`]) {
      const { synth, env } = await productionWith(image, true);
      let message = '';
      try {
        synth.synthesizeAll([env]);
      } catch (error) {
        message = (error as Error).message;
      }
      const line = message.split('\n').find((l) => l.includes('[image-pinned]')) ?? '';
      expect(line, image).toContain(`error [image-pinned] ${env.definedIn}: ${env.name}/${Object.keys(env.services)[0]}`);
      expect(line).toContain(`image "${image}" has no digest in a production environment`);
      expect(line).toMatch(
        image.startsWith(imageRepository) ? /Fix: use inferenceImage or inferenceImageCuda/ : /Fix: write it as repository:tag@sha256:<digest>/,
      );
    }
  });

  it('warns elsewhere, and the reference is pulled Always', async () => {
    const image = 'registry.example/team/inference:1.2.3';
    const { synth, env } = await productionWith(image, false);
    const out = synth.synthesizeAll([env]);
    expect(pinnedWarnings(out.report).map((w) => w.message)).toContainEqual(expect.stringContaining(`image "${image}" has no digest`));
    const c = containers(out.files).filter((x) => x.image === image);
    expect(c.length).toBeGreaterThan(1);
    for (const x of c) expect(x.pullPolicy).toBe('Always');
  });
});

describe('pull policy', () => {
  it('every container of every environment: IfNotPresent with a digest, Always with a tag', () => {
    expect(committedContainers.length).toBeGreaterThan(0);
    for (const c of committedContainers) expect(c.pullPolicy, `${c.where} ${c.image}`).toBe(pullPolicyFor(c.image));
    expect(pullPolicyFor(`r/x:1@sha256:${'0'.repeat(64)}`)).toBe('IfNotPresent');
    expect(pullPolicyFor('r/x:1')).toBe('Always');
    expect(pullPolicyFor('r/x:1@sha256:short')).toBe('Always');
  });
});

describe('imagePullSecrets', () => {
  it("go on every pod of the environment and into the prerequisites page's Secrets to create", async () => {
    const { environments } = await import('../../charts/environments/index.js');
    const env = { ...environments[0]!, imagePullSecrets: ['registry-pull', 'mirror-pull'] };
    const out = synthesizeAll([env]);
    let pods = 0;
    for (const [path, text] of out.files) {
      if (!path.startsWith(`dist/${env.name}/`)) continue;
      for (const doc of parseAllDocuments(text)) {
        const o = doc.toJSON() as any;
        if (o?.kind !== 'Deployment') continue;
        pods += 1;
        expect(o.spec.template.spec.imagePullSecrets, path).toEqual([{ name: 'registry-pull' }, { name: 'mirror-pull' }]);
        // The init container pulls from the same pod spec: there is no per-container pull secret.
        expect(o.spec.template.spec.initContainers.length).toBeGreaterThan(0);
      }
    }
    expect(pods).toBe(Object.keys(env.services).length);
    const page = out.files.get('docs/prerequisites.md')!;
    for (const name of ['registry-pull', 'mirror-pull'])
      expect(page).toMatch(new RegExp(`\\| \`${env.namespace}\` \\| \`${name}\` \\| \`\\.dockerconfigjson\` \\|`));
  });
});

describe('a broken digests file', () => {
  it('fails synth with the file, the image, the field and the fix, and writes nothing', () => {
    const file = join(scratch, 'broken.json');
    writeFileSync(file, JSON.stringify({ inference: { repository: imageRepository, tag: '0.1.0', digest: 'sha256:not-a-digest' } }));
    const before = readFileSync(join(repoRoot, 'dist', committedContainers[0]!.where.split(' ')[0]!.slice('dist/'.length)), 'utf8');
    const run = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'charts/main.ts')], {
      encoding: 'utf8',
      env: { ...process.env, [imageDigestsFileEnv]: file },
    });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${file}: inference: digest: "sha256:not-a-digest" is not a sha256 digest`);
    expect(run.stderr).toContain('Nothing was written');
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(readFileSync(join(repoRoot, 'dist', committedContainers[0]!.where.split(' ')[0]!.slice('dist/'.length)), 'utf8')).toBe(before);
  });

  it('a digest recorded for another repository than charts/site.ts is refused, not pinned', async () => {
    const file = join(scratch, 'moved.json');
    writeFileSync(file, JSON.stringify({ inference: { repository: 'registry.example/old/inference', tag: '0.1.0', digest: madeUpDigest() } }));
    await expect(chartsReading(file)).rejects.toThrow(
      /moved\.json: inference: repository: records registry\.example\/old\/inference, but charts\/site\.ts imageRepository is /,
    );
  });
});

import type { EnvironmentBuild } from '../environment-chart.js';
import { awaitingFirstPublish, imageDigestsSource } from '../environments/image.js';
import { imageRepository, packageVersion, publishedImages, releaseTag, type PublishedImageId } from '../environments/published-images.js';
import { parseImage } from '../lib/image.js';
import type { Finding, Rule } from './types.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- synthesized manifests are read as plain JSON */
const containersOf = (pod: any): any[] => [...(pod.initContainers ?? []), ...(pod.containers ?? [])];

/** How a digest reaches charts/images.json: never typed by hand. */
const howDigestsArrive = `push the tag v${packageVersion}: .github/workflows/image.yml builds, signs and pushes the images, records their digests in charts/images.json and opens a pull request with the pinned dist/ (docs/operations.md "Publish the image")`;

const imagePinnedId = 'image-pinned';

export const imagePinningRules: Rule[] = [
  {
    id: imagePinnedId,
    severity: 'error',
    checks:
      'Every container image carries a digest (`repository:tag@sha256:...`): an error in an environment marked `production`, a warning elsewhere. The published images take theirs from charts/images.json; before their first publish there is none, and synth warns once per image instead of once per service.',
    why: 'A tag pushed again runs different code on nodes that pulled it at different times, and a rollback to the tag is not a rollback to the bytes.',
    fix: 'Use inferenceImage / inferenceImageCuda from charts/environments/image.ts (pinned from charts/images.json by the publishing workflow), or write another image as repository:tag@sha256:<digest> (`docker buildx imagetools inspect <ref>` prints it).',
    check: (_svc, env) =>
      containersOf(_svc.pod).flatMap((c) => {
        if (parseImage(c.image).digest !== undefined) return [];
        // Reported once per image by unpublishedImageWarnings, not once per service.
        if (awaitingFirstPublish(c.image) !== undefined) return [];
        const production = env.environment.production === true;
        const ours = parseImage(c.image).repository === imageRepository;
        return [
          {
            message: `container ${c.name}: image "${c.image}" has no digest${production ? ' in a production environment' : ''}`,
            severity: production ? ('error' as const) : ('warning' as const),
            fix: ours
              ? `use inferenceImage or inferenceImageCuda from charts/environments/image.ts, which charts/images.json pins; to pin a new build, ${howDigestsArrive}`
              : `write it as repository:tag@sha256:<digest> (\`docker buildx imagetools inspect ${c.image}\` prints the digest)`,
          },
        ];
      }),
  },
];

/**
 * One warning per published image that containers use while charts/images.json has no digest for it (before its
 * first publish), naming every service that uses it: the per-service rule stays quiet for these. A warning even in
 * production: there is no digest to pin yet, and the first publish needs a synth that passes.
 */
export function unpublishedImageWarnings(builds: readonly EnvironmentBuild[]): Finding[] {
  const users = new Map<PublishedImageId, { environment: string; service: string }[]>();
  for (const build of builds) {
    // The model services, and the scale-to-zero failover responder, which runs from the environment's image.
    const charts = [
      ...build.services.map((c) => ({ chart: c, name: c.service.plan.name })),
      ...(build.failover ? [{ chart: build.failover, name: build.failover.node.id }] : []),
    ];
    for (const { chart, name } of charts) {
      const objects = chart.toJson() as { kind: string; spec?: any }[];
      const pod = objects.find((o) => o.kind === 'Deployment')?.spec?.template?.spec;
      if (pod === undefined) continue;
      for (const c of containersOf(pod)) {
        const id = awaitingFirstPublish(c.image);
        if (id === undefined) continue;
        const list = users.get(id) ?? [];
        const who = { environment: build.environment.name, service: name };
        if (!list.some((u) => u.environment === who.environment && u.service === who.service)) list.push(who);
        users.set(id, list);
      }
    }
  }
  return [...users].map(([id, list]) => ({
    ruleId: imagePinnedId,
    severity: 'warning',
    environment: '*',
    service: '*',
    message: `image ${id} (Dockerfile target ${publishedImages[id].target}) has no digest in ${imageDigestsSource} yet, so ${list.length} service(s) pull ${imageRepository}:${releaseTag(id)} by tag with imagePullPolicy Always: ${list.map((u) => `${u.environment}/${u.service}`).join(', ')}`,
    fix: `${howDigestsArrive}; no digest is ever typed by hand`,
  }));
}

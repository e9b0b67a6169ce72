/**
 * One control plane per test file: started in beforeAll, stopped in afterAll, its logs kept when any test of
 * the file failed. Without Go or a build the file's suites are skipped with one line, except under CI=true,
 * where that is a failure (.ci/run builds the control plane before `npm test`).
 */
import { afterAll, afterEach, beforeAll, it } from 'vitest';
import { findControlPlaneBinaries, startControlPlane, type ControlPlane } from './launcher.js';

const binaries = findControlPlaneBinaries();
/** Why the control-plane tests cannot run here, or undefined when they can. */
export const controlPlaneMissing: string | undefined = 'missing' in binaries ? binaries.missing : undefined;

/** A guard test that fails in CI and warns elsewhere when the control plane is missing. */
export function controlPlaneAvailabilityTest(): void {
  it('has the control plane built wherever CI runs', () => {
    if (controlPlaneMissing === undefined) return;
    if (process.env.CI === 'true') throw new Error(`${controlPlaneMissing} (CI=true)`);
    console.warn(`skipping the control-plane tests: ${controlPlaneMissing}`);
  });
}

/** Registers the hooks; the returned getter gives the running control plane inside tests. */
export function useControlPlane(): () => ControlPlane {
  let controlPlane: ControlPlane | undefined;
  let failed = false;
  beforeAll(async () => {
    if (controlPlaneMissing !== undefined) return;
    controlPlane = await startControlPlane({ binDir: (binaries as { binDir: string }).binDir });
  });
  afterEach((context) => {
    if (context.task.result?.state === 'fail') failed = true;
  });
  afterAll(async () => {
    await controlPlane?.stop(failed);
  });
  return () => {
    if (!controlPlane) throw new Error('the control plane is not running (see the availability test)');
    return controlPlane;
  };
}

import { describe, expect, it } from 'vitest';
import { selfHealDelaySeconds } from './argocd.js';

describe('self-heal backoff (Argo CD >= 2.14 defaults: 2 s, factor 3, cap 300 s)', () => {
  it('is immediate for the first attempt, then grows by 3 up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map(selfHealDelaySeconds)).toEqual([0, 2, 6, 18, 54, 162, 300, 300, 300]);
  });
});

/** Conformance shard 1: the scenarios of the Deployments shards.ts assigns to it (suite.ts, docs/conformance.md). */
import { conformanceSuite } from './suite.js';

conformanceSuite(1);

/** Conformance shard 2: the scenarios of the Deployments shards.ts assigns to it (suite.ts, docs/conformance.md). */
import { conformanceSuite } from './suite.js';

conformanceSuite(2);

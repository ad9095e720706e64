// A cluster and a raw wire-protocol session on it, set up for the tests of one describe.
import { before, after } from "node:test";
import { startCluster, type TestCluster } from "./cluster.js";
import { RawConnection } from "./raw.js";

/** A cluster and a raw session on it, for the tests of one describe (see rawSessionSuite). */
export interface RawSession {
  cluster: TestCluster;
  conn: RawConnection;
}

/**
 * Within a describe: before its tests, starts a cluster of `kind`, opens a raw session on it and
 * runs each of `setup` there as a simple Query; after them, closes both.
 */
export function rawSessionSuite(kind: "local" | "embedded", setup: readonly string[]): RawSession {
  const session = {} as RawSession;
  before(async () => {
    session.cluster = await startCluster(kind);
    ({ conn: session.conn } = await RawConnection.startup(session.cluster.port));
    await session.conn.simpleQueries(setup);
  });
  after(async () => {
    session.conn?.destroy();
    await session.cluster?.stop();
  });
  return session;
}

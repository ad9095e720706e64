// A node-postgres client for one piece of a test's work, closed afterwards whatever happens.
import pg from "pg";

/** Connects to `url`, runs `f` with the client and closes it (errors of the connection are f's). */
export async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client(url);
  c.on("error", () => {});
  await c.connect();
  try {
    return await f(c);
  } finally {
    await c.end().catch(() => {});
  }
}

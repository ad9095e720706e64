// Writes made in one tick leave a socket in one write (one syscall, one TLS record).
import type { Writable } from "node:stream";

const corked = new WeakSet<Writable>();

/** Corks the socket until the end of the current tick, unless it already is. */
export function corkForTick(socket: Writable): void {
  if (corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}

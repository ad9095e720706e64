// Writes made in one tick leave a socket in one write (one syscall, one TLS record); and waiting
// for a socket that is behind.
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

/** Resolves once the socket has sent all that was written to it, or is closed. */
export function drained(socket: Writable): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      resolve();
    };
    socket.on("drain", done);
    socket.on("close", done);
  });
}

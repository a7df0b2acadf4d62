// Coalesces many requests into one call per animation frame: live batches may arrive far
// more often than the screen can show them.

export type FrameScheduler = { request: () => void; cancel: () => void };

export function frameScheduler(
  run: () => void,
  raf: (cb: () => void) => number = (cb) => requestAnimationFrame(cb),
  caf: (id: number) => void = (id) => cancelAnimationFrame(id),
): FrameScheduler {
  let pending: number | null = null;
  return {
    request() {
      if (pending !== null) return;
      pending = raf(() => {
        pending = null;
        run();
      });
    },
    cancel() {
      if (pending !== null) caf(pending);
      pending = null;
    },
  };
}

// Which rows of a fixed-row-height list are on screen: the virtual table renders only these.

export type Range = { start: number; end: number };

/** Rows [start, end) covering the viewport plus `overscan` rows each side. */
export function visibleRange(
  scrollTop: number,
  viewportHeight: number,
  rowHeight: number,
  count: number,
  overscan = 6,
): Range {
  if (count === 0 || rowHeight <= 0) return { start: 0, end: 0 };
  const first = Math.floor(Math.max(0, scrollTop) / rowHeight);
  const visible = Math.ceil(Math.max(0, viewportHeight) / rowHeight) + 1;
  const start = Math.max(0, Math.min(count - 1, first) - overscan);
  const end = Math.min(count, first + visible + overscan);
  return { start, end };
}

/** The scrollTop that brings row `index` into view, or `current` if it already is. */
export function scrollToReveal(index: number, current: number, viewportHeight: number, rowHeight: number): number {
  const top = index * rowHeight;
  if (top < current) return top;
  if (top + rowHeight > current + viewportHeight) return top + rowHeight - viewportHeight;
  return current;
}

/**
 * The row a navigation key moves to from `pos` (-1: none yet) among `count` rows, `page`
 * rows to a screen; null for any other key. The same keys in every virtual list.
 */
export function keyTarget(key: string, pos: number, count: number, page: number): number | null {
  if (count === 0) return null;
  const last = count - 1;
  switch (key) {
    case "ArrowDown":
      return Math.min(last, pos + 1);
    case "ArrowUp":
      return Math.max(0, pos - 1);
    case "Home":
      return 0;
    case "End":
      return last;
    case "PageDown":
      return Math.min(last, Math.max(0, pos) + page);
    case "PageUp":
      return Math.max(0, pos - page);
    default:
      return null;
  }
}

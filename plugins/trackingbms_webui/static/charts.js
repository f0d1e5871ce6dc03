// Chart helpers shared by the live and history pages (uPlot).

/**
 * A value axis around the data with at least ``pad`` either side: uPlot stretches a flat line
 * (a pack at rest holds its voltage to the millivolt) to a range from 0, which hides it.
 */
export function paddedRange(min, max, pad) {
  if (min == null || max == null) return [0, 1];
  const margin = Math.max((max - min) * 0.1, pad);
  return [min - margin, max + margin];
}

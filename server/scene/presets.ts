/**
 * Scene presets: the stand-level ranges a forest type draws from. Each stand (a patch of roughly
 * 200 m) draws its own values inside these ranges, so one scene holds several distinct stands.
 */
export interface Preset {
  name: string;
  /** Candidate cell edge (m): at most one tree candidate per cell, jittered inside it. */
  cellSize: number;
  /** Probability that a cell holds a candidate, per stand [min, max]. */
  density: [number, number];
  /** Share of conifers, per stand [min, max]. */
  coniferFraction: [number, number];
  /** Weibull scale (m) of tree heights, per stand [min, max]. */
  heightScale: [number, number];
  /** Weibull shape of tree heights, per stand [min, max]. */
  heightShape: [number, number];
  /** Share of the area in clearings (meadows, no trees). */
  clearingCover: number;
  /** Share of the forest in small canopy gaps. */
  gapCover: number;
  /** 0: uniform density inside a stand; 1: strongly clumped. */
  clumping: number;
  /** Crown width relative to the allometry of closed stands (open-grown trees spread wider). */
  crownWidth: number;
  /** Ground palette: moist forest floor or dry savanna grass. */
  ground: 'forest' | 'dry';
}

export const PRESETS: Record<string, Preset> = {
  mixed: {
    name: 'mixed', cellSize: 4.5, density: [0.7, 0.95], coniferFraction: [0.25, 0.9],
    heightScale: [18, 32], heightShape: [2.5, 4.5], clearingCover: 0.08, gapCover: 0.08, clumping: 0.5, crownWidth: 1, ground: 'forest',
  },
  conifer: {
    name: 'conifer', cellSize: 4, density: [0.65, 0.95], coniferFraction: [0.93, 1],
    heightScale: [24, 42], heightShape: [3, 5], clearingCover: 0.05, gapCover: 0.06, clumping: 0.4, crownWidth: 1, ground: 'forest',
  },
  broadleaf: {
    name: 'broadleaf', cellSize: 5.5, density: [0.6, 0.92], coniferFraction: [0, 0.08],
    heightScale: [14, 26], heightShape: [2.5, 4], clearingCover: 0.06, gapCover: 0.06, clumping: 0.4, crownWidth: 1, ground: 'forest',
  },
  sparse: {
    name: 'sparse', cellSize: 12, density: [0.08, 0.3], coniferFraction: [0, 0.25],
    heightScale: [10, 17], heightShape: [2.5, 4], clearingCover: 0.15, gapCover: 0, clumping: 0.8, crownWidth: 1.7, ground: 'dry',
  },
};

export const PRESET_NAMES = Object.keys(PRESETS);

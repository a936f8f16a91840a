import type { ChmProgress } from './engine.ts';

/** "1m05s" style durations for a progress line. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** One progress-bar line: `[#########-----------]  45%  120/266 tiles  12.3 tiles/s  ETA 12s`. */
export function formatProgressBar(p: ChmProgress, width = 24): string {
  const frac = p.total > 0 ? p.done / p.total : 0;
  const rate = p.elapsedSeconds > 0 ? p.done / p.elapsedSeconds : 0;
  const eta = p.etaSeconds === null ? '--' : formatDuration(p.etaSeconds);
  return `${formatBar(frac, width)}  ${p.done}/${p.total} tiles  ${rate.toFixed(1)} tiles/s  ETA ${eta}`;
}

/** The bar every command line draws: `[#####-----]  50%` for a fraction in [0, 1]. */
export function formatBar(fraction: number, width: number): string {
  const frac = Math.min(1, Math.max(0, fraction));
  const filled = Math.round(frac * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(frac * 100)).padStart(3)}%`;
}

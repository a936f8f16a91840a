import type { Map as MapLibreMap, MapMouseEvent } from 'maplibre-gl';
import { pointValue } from '../api.ts';
import { fmt } from '../format.ts';
import type { Messages } from './messages.ts';

/**
 * Canopy height under the pointer from the CHM point query. Throttled: at most one request in
 * flight and one every `intervalMs`; the latest position wins, stale answers are dropped.
 */
export function installHoverReadout(map: MapLibreMap, box: HTMLElement, chmId: () => string | null, messages: Messages, intervalMs = 150): void {
  let pending: { lng: number; lat: number } | null = null;
  let inFlight = false;
  let last = 0;
  let seq = 0;
  let timer: ReturnType<typeof setTimeout> | null = null;

  const pump = async () => {
    timer = null;
    const id = chmId();
    if (!pending || inFlight || !id) return;
    const wait = last + intervalMs - Date.now();
    if (wait > 0) {
      timer = setTimeout(pump, wait);
      return;
    }
    const at = pending;
    pending = null;
    inFlight = true;
    last = Date.now();
    const mine = ++seq;
    try {
      const h = await pointValue(id, at.lng, at.lat);
      if (mine === seq) {
        box.hidden = false;
        box.textContent = h === null ? 'Canopy height: no data here' : `Canopy height: ${fmt(h, 1, 'm')}`;
      }
    } catch (err) {
      messages.error(err);
    } finally {
      inFlight = false;
      if (pending && !timer) timer = setTimeout(pump, 0);
    }
  };

  map.on('mousemove', (e: MapMouseEvent) => {
    if (!chmId()) return;
    pending = { lng: e.lngLat.lng, lat: e.lngLat.lat };
    if (!timer && !inFlight) void pump();
  });
  map.getCanvas().addEventListener('mouseleave', () => {
    pending = null;
    seq++;
    box.hidden = true;
  });
}

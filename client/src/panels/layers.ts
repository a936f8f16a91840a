import type { Map as MapLibreMap } from 'maplibre-gl';
import { el, type MapLayer } from '../layers/layer.ts';

/** One row per layer: a visibility checkbox, an opacity slider and the legend. */
export function renderLayersPanel(container: HTMLElement, map: MapLibreMap, layers: MapLayer[]): void {
  container.replaceChildren();
  for (const layer of layers) {
    const row = el('div', { class: 'layer', 'data-layer': layer.key });
    const head = el('div', { class: 'layer-head' });
    const toggleId = `layer-${layer.key}-visible`;
    const toggle = el('input', { type: 'checkbox', id: toggleId });
    toggle.checked = layer.visible;
    const label = el('label', { for: toggleId }, layer.available() ? layer.title : `${layer.title} (not available yet)`);
    toggle.disabled = !layer.available();
    head.append(toggle, label);
    const opacityId = `layer-${layer.key}-opacity`;
    const opacityRow = el('div', { class: 'layer-opacity' });
    const opacityLabel = el('label', { for: opacityId }, 'Opacity');
    const slider = el('input', { type: 'range', id: opacityId, min: '0', max: '100', step: '5' });
    slider.value = String(Math.round(layer.opacity * 100));
    slider.setAttribute('aria-valuetext', `${slider.value} %`);
    slider.disabled = !layer.available();
    opacityRow.append(opacityLabel, slider);
    toggle.addEventListener('change', () => {
      layer.visible = toggle.checked;
      layer.apply(map);
    });
    slider.addEventListener('input', () => {
      layer.opacity = Number(slider.value) / 100;
      slider.setAttribute('aria-valuetext', `${slider.value} %`);
      layer.apply(map);
    });
    row.append(head, opacityRow);
    const legend = layer.available() ? layer.legend() : null;
    if (legend) row.append(legend);
    container.append(row);
  }
}

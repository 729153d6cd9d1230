// Detected sources: the view's sources (sources.detect) as circles with a popup of their measurements.
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $, busy, flash, showError } from '../ui.js';
import { sexa } from '../lib/format.js';

export function mountDetect({ store, map, session, place }) {
  const layer = L.layerGroup().addTo(map);
  $('clear-overlays').onclick = () => layer.clearLayers();
  $('detect').onclick = async () => {
    if (!store.get().src) return;
    busy('detecting sources…');
    try {
      const r = await session.call('sources.detect', { ...place.here(), rect: place.viewPixels() },
        (done, total) => busy(`detecting sources ${Math.round((100 * done) / total)} %`));
      for (const s of r.sources) {
        const m = L.circleMarker(place.toLatLng(s.x, s.y), { radius: 6, color: '#3f3', weight: 1.5, fill: false, className: 'source' });
        const sky = s.lon != null ? `<br>${sexa(s.lon, true)} ${sexa(s.lat, false)}` : '';
        m.bindPopup(`x ${s.x.toFixed(2)} y ${s.y.toFixed(2)}${sky}<br>peak ${s.peak.toFixed(1)} flux ${s.flux.toFixed(0)}<br>FWHM ${s.fwhm.toFixed(2)} px`);
        layer.addLayer(m);
      }
      flash(`${r.count} sources${r.truncated ? ' (brightest shown)' : ''}`);
    } catch (e) { busy(''); showError(`detection: ${e.message}`); }
  };
}

// Detected sources: the view's sources (sources.detect, at the threshold chosen in σ above the
// background) as circles with a popup of their measurements; a click anywhere inside a circle opens it.
// While the job runs, the banner's Cancel stops it.
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $, busy, flash, showError } from '../ui.js';
import { sexa } from '../lib/format.js';

export function mountDetect({ store, map, session, place, hook }) {
  const layer = L.layerGroup().addTo(map);
  const detect = { count: 0, runs: 0 };
  hook.detect = detect;
  $('clear-overlays').onclick = () => { layer.clearLayers(); detect.count = 0; };
  $('detect').onclick = async () => {
    if (!store.get().src) return;
    const threshold = Number($('detect-sigma').value);
    if (!(threshold > 0)) { showError('detection: the threshold is a number of σ above 0'); return; }
    const job = session.call('sources.detect', { ...place.here(), rect: place.viewPixels(), threshold },
      (done, total) => busy(`detecting sources ${Math.round((100 * done) / total)} %`, () => job.cancel()));
    busy('detecting sources…', () => job.cancel());
    try {
      const r = await job;
      layer.clearLayers();
      for (const s of r.sources) {
        // Filled with nothing: the inside is clickable, not only the ring.
        const m = L.circleMarker(place.toLatLng(s.x, s.y), { radius: 6, color: '#3f3', weight: 1.5, fill: true, fillOpacity: 0, className: 'source' });
        const sky = s.lon != null ? `<br>${sexa(s.lon, true)} ${sexa(s.lat, false)}` : '';
        m.bindPopup(`x ${s.x.toFixed(2)} y ${s.y.toFixed(2)}${sky}<br>peak ${s.peak.toFixed(1)} flux ${s.flux.toFixed(0)}<br>FWHM ${s.fwhm.toFixed(2)} px`);
        layer.addLayer(m);
      }
      detect.count = r.sources.length;
      flash(`${r.count} sources above ${threshold} σ${r.truncated ? ' (brightest shown)' : ''}`);
    } catch (e) {
      if (e.kind === 'cancelled') flash('detection cancelled');
      else { busy(''); showError(`detection: ${e.message}`); }
    } finally { detect.runs++; }
  };
}

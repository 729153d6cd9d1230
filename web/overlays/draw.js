// The mouse tools: draw a region of the chosen shape (a drag; a polygon by clicks, closed with a double
// click), or a profile line. The tool in use is in the store (`tool`), so a click on a region selects it
// only when no tool is on.
import * as L from '../vendor/leaflet/leaflet-src.esm.js';
import { $ } from '../ui.js';
import { regionFrom } from '../lib/shapes.js';

export function mountDraw({ store, map, place, actions }, regions, plots) {
  const st = () => store.get();
  let tool = null; // {kind: 'region'|'profile', shape, start, preview, vertices}
  function setTool(next) {
    if (tool?.preview) map.removeLayer(tool.preview);
    tool = next;
    $('draw').classList.toggle('on', tool?.kind === 'region');
    $('profile').classList.toggle('on', tool?.kind === 'profile');
    map.getContainer().classList.toggle('drawing', !!tool);
    if (tool) { map.dragging.disable(); map.doubleClickZoom.disable(); } else { map.dragging.enable(); map.doubleClickZoom.enable(); }
    store.update({ tool: tool?.kind ?? null }, 'tool');
  }
  $('draw').onclick = () => setTool(tool?.kind === 'region' ? null : { kind: 'region', shape: $('shape').value, vertices: [] });
  $('shape').onchange = () => { if (tool?.kind === 'region') setTool({ kind: 'region', shape: $('shape').value, vertices: [] }); };
  $('profile').onclick = () => setTool(tool?.kind === 'profile' ? null : { kind: 'profile' });
  const fits = (e) => { const p = place.toFits(e.latlng); return [+p.x.toFixed(2), +p.y.toFixed(2)]; };
  const addRegion = (r) => regions.commit([...st().regions, r], st().regions.length);
  map.on('mousedown', (e) => {
    if (!tool || !st().src || e.originalEvent.button !== 0) return;
    if (tool.kind === 'region' && tool.shape === 'polygon') return;
    tool.start = fits(e);
  });
  map.on('mousemove', (e) => {
    if (!tool?.start) return;
    const b = fits(e);
    if (tool.preview) map.removeLayer(tool.preview);
    const r = tool.kind === 'profile' ? { shape: 'line', system: 'image', points: [tool.start, b] } : regionFrom(tool.shape, tool.start, b);
    tool.preview = regions.shapeOf(r, r.points, 1).addTo(map);
  });
  map.on('mouseup', async (e) => {
    if (!tool?.start) return;
    const a = tool.start; const b = fits(e);
    tool.start = null;
    if (tool.preview) { map.removeLayer(tool.preview); tool.preview = null; }
    if (tool.kind === 'profile') { await plots.profile(a, b); return; }
    const r = regionFrom(tool.shape, a, b);
    await addRegion(r);
    if (r.shape === 'text') actions.editRegion();
  });
  map.on('click', (e) => {
    if (tool?.kind !== 'region' || tool.shape !== 'polygon' || !st().src) return;
    tool.vertices.push(fits(e));
    if (tool.preview) map.removeLayer(tool.preview);
    tool.preview = L.polyline(tool.vertices.map(([x, y]) => place.toLatLng(x, y)), { color: '#3f3', weight: 1.5, dashArray: '3 3' }).addTo(map);
  });
  map.on('dblclick', async () => {
    if (tool?.kind !== 'region' || tool.shape !== 'polygon') return;
    // A double click also sent two clicks: the last vertex is there twice.
    const v = tool.vertices.filter((p, i, a) => i === 0 || p[0] !== a[i - 1][0] || p[1] !== a[i - 1][1]);
    if (tool.preview) { map.removeLayer(tool.preview); tool.preview = null; }
    tool.vertices = [];
    if (v.length >= 3) await addRegion({ shape: 'polygon', system: 'image', points: v });
  });
  document.addEventListener('keydown', (e) => { if (e.key === 'Escape' && tool) setTool(null); });
}

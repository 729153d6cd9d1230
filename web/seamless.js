// Tile layers without seams at fractional zoom. Leaflet lays a zoom level's tiles out 256 px apart and
// scales the level's container by CSS: at a zoom between levels (Fit, ×1.57) each tile's edge falls
// inside a screen pixel, the browser antialiases the two edges that share it, and their coverages do not
// add up to one, so a dark (or, with Leaflet's plus-lighter blending, bright) line shows at every tile
// boundary. Here the tiles themselves are laid out at the level's scale, every edge rounded to a whole
// pixel, so neighbours meet exactly and the container is only translated; each tile's picture is
// scaled by at most half a pixel more or less than the exact scale. While a zoom animation runs, the
// container is scaled by the ratio to that layout, as Leaflet does with its own.
import * as L from './vendor/leaflet/leaflet-src.esm.js';

export const SeamlessTileLayer = L.TileLayer.extend({
  _setZoomTransform(level, center, zoom) {
    const map = this._map;
    const scale = map.getZoomScale(zoom, level.zoom);
    const translate = level.origin.multiplyBy(scale).subtract(map._getNewPixelOrigin(center, zoom)).round();
    if (map._animatingZoom && level.laidOut !== undefined) {
      L.DomUtil.setTransform(level.el, translate, scale / level.laidOut);
      return;
    }
    if (level.laidOut !== scale) {
      level.laidOut = scale;
      for (const t of Object.values(this._tiles)) if (t.coords.z === level.zoom) this._place(t.el, t.coords, level);
    }
    L.DomUtil.setTransform(level.el, translate, 1);
  },

  _addTile(coords, container) {
    L.TileLayer.prototype._addTile.call(this, coords, container);
    const t = this._tiles[this._tileCoordsToKey(coords)];
    const level = this._levels[coords.z];
    if (t && level?.laidOut !== undefined) this._place(t.el, coords, level);
  },

  /** A tile's box at its level's layout scale, every edge on a whole pixel. */
  _place(el, coords, level) {
    const size = this.getTileSize();
    const s = level.laidOut;
    const x = coords.x * size.x - level.origin.x; const y = coords.y * size.y - level.origin.y;
    const l = Math.round(x * s); const t = Math.round(y * s);
    const r = Math.round((x + size.x) * s); const b = Math.round((y + size.y) * s);
    L.DomUtil.setPosition(el, L.point(l, t));
    el.style.width = `${r - l}px`;
    el.style.height = `${b - t}px`;
  },
});

export const seamlessTileLayer = (url, options) => new SeamlessTileLayer(url, options);

//! FITS and WCS access for toyz: open any image HDU of a FITS file (plain, gzip'd, tile-compressed,
//! multi-extension, cubes), read its header and any rectangle as f32 from many threads, and convert
//! between FITS pixels and sky coordinates. No pyramid, no HTTP.

mod error;
mod file;
mod graticule;
mod handle;
mod header;
mod image;
mod mapped;
mod mosaic;
mod pixel;
mod prescan;
mod proj;
mod raster;
mod skyfmt;
mod spectral;
mod tiled;
mod tpv;
mod wcs;

pub use error::{ErrorKind, FitsError, Result};
pub use file::{FileVersion, Pinned};
pub use graticule::{compass, convert_frame, graticule, Graticule, GridLine};
pub use header::{Card, Header};
pub use image::{list_hdus, probe, read_table, HduKind, HduSel, HduSummary, Image, Table};
pub use mapped::{install_sigbus_guard, GuardedMap};
pub use mosaic::{parse_section, Layout, Mosaic, MosaicCcd, MosaicInfo};
pub use pixel::{pixel_at, sky_to_pixel, PixelValue, World};
pub use proj::{Celestial, CODES};
pub use raster::{open_raster, open_raster_pinned, CcdPixel, Raster, RasterKey, Value};
pub use skyfmt::{
    degrees_lat, degrees_lon, dms, dms_lon, hms, sky_text, SkyFormat, SkySystem, SkyText,
};
pub use spectral::SpectralAxis;
pub use wcs::{separation, unit_vector, SkyCap, Wcs, WcsPart, WcsSummary};

/// Version of the cfitsio library actually linked (fitsio's own helper always reports 4.0).
pub fn cfitsio_version() -> f32 {
    let mut v = 0f32;
    // SAFETY: ffvers only writes the float it is given.
    unsafe { fitsio::sys::ffvers(&mut v) };
    v
}

//! Plot files: the font plotters draws text with, and PNG or SVG images rendered in memory, so
//! that they are written like every other output ([`super::write_atomic`]).

use std::path::Path;

use anyhow::{Context, Result, bail};
use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, IntoDrawingArea, SVGBackend};

/// The image formats plots are written in, from the file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotFormat {
    /// `.png`
    Png,
    /// `.svg`
    Svg,
}

impl PlotFormat {
    /// The format `path`'s extension names, or an error naming the file.
    pub fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => Ok(Self::Png),
            Some("svg") => Ok(Self::Svg),
            _ => bail!("{}: plot file must end in .png or .svg", path.display()),
        }
    }
}

/// Renders a `size` plot with `draw_png` or `draw_svg` (the same drawing on the two backends)
/// into the bytes of a file of `format`.
pub fn render(
    format: PlotFormat,
    (w, h): (u32, u32),
    draw_png: impl FnOnce(DrawingArea<BitMapBackend<'_>, Shift>) -> Result<()>,
    draw_svg: impl FnOnce(DrawingArea<SVGBackend<'_>, Shift>) -> Result<()>,
) -> Result<Vec<u8>> {
    ensure_plot_font()?;
    match format {
        PlotFormat::Svg => {
            let mut svg = String::new();
            draw_svg(SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area())?;
            Ok(svg.into_bytes())
        }
        PlotFormat::Png => {
            let len = (w as usize) * (h as usize) * 3;
            let mut rgb = vec![0u8; len];
            draw_png(BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area())?;
            let mut png = Vec::new();
            use image::ImageEncoder;
            image::codecs::png::PngEncoder::new(&mut png)
                .write_image(&rgb, w, h, image::ColorType::Rgb8)
                .context("encoding the PNG")?;
            Ok(png)
        }
    }
}

/// Registers a TrueType font for plot text, once per process (plotters draws text itself for PNG
/// and measures it for SVG). Looks in the usual Debian places (package `fonts-dejavu-core`).
pub fn ensure_plot_font() -> Result<()> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            const CANDIDATES: &[&str] = &[
                "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/TTF/DejaVuSans.ttf",
                "/usr/share/fonts/dejavu/DejaVuSans.ttf",
                "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
            ];
            let bytes = CANDIDATES
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| {
                    format!(
                        "no TrueType font for plot labels (looked for {}); install Debian's \
                         fonts-dejavu-core",
                        CANDIDATES.join(", ")
                    )
                })?;
            // plotters keeps registered fonts for the life of the process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
                .map_err(|_| "the font file could not be parsed".to_string())
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

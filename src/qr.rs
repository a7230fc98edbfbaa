//! QR codes of otpauth URIs, rendered locally as SVG, PNG or terminal text.
//!
//! Nothing here talks to a network: the secret never leaves the process (some libraries render
//! through a web chart service, which leaks it). The module matrix encodes the secret, so it is
//! zeroized on drop and `Debug` shows only its size.
//!
//! Error correction is level M (15% of the symbol recoverable), the usual recommendation for
//! codes shown on screens and printed, and the quiet zone is the 4 modules ISO/IEC 18004 requires
//! around the symbol.

use core::fmt;

use zeroize::Zeroizing;

use crate::otp::OtpAuthUri;

/// Width of the light margin around the symbol, in modules (ISO/IEC 18004 §6.3.8).
pub const QUIET_ZONE: usize = 4;

/// Why a QR code could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The URI does not fit in a QR code (over about 2300 characters at level M).
    #[error("the URI is too long for a QR code")]
    TooLong,
    /// A size option is out of range.
    #[error("invalid size: {0}")]
    Size(&'static str),
    /// PNG encoding failed.
    #[error("PNG encoding failed")]
    Png,
}

/// A QR code of an otpauth URI: a square of dark and light modules, quiet zone excluded.
///
/// ```
/// use twofactor::{OtpAuthUri, QrCode, Secret};
///
/// let uri = OtpAuthUri::totp(Secret::generate_len(20)?, "alice@example.com")?
///     .with_issuer("Example Co")?;
/// let qr = QrCode::new(&uri)?;
/// let svg = qr.to_svg(256);               // an <svg> element for a web page
/// let png = qr.to_png(8)?;                // PNG bytes, 8 pixels per module
/// let text = qr.to_terminal();            // for a terminal, scannable by a phone
/// assert!(svg.starts_with("<svg") && png.starts_with(b"\x89PNG") && !text.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct QrCode {
    width: usize,
    dark: Zeroizing<Vec<bool>>,
}

impl QrCode {
    /// Encodes `uri` (its full text, secret included) at error-correction level M.
    ///
    /// # Errors
    /// [`QrError::TooLong`].
    pub fn new(uri: &OtpAuthUri) -> Result<QrCode, QrError> {
        QrCode::from_text(&uri.expose_uri())
    }

    /// Encodes any text at level M.
    ///
    /// # Errors
    /// [`QrError::TooLong`].
    pub fn from_text(text: &str) -> Result<QrCode, QrError> {
        let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
            .map_err(|_| QrError::TooLong)?;
        let width = code.width();
        let dark = Zeroizing::new(
            code.to_colors()
                .iter()
                .map(|c| *c == qrcode::Color::Dark)
                .collect(),
        );
        Ok(QrCode { width, dark })
    }

    /// Modules per side, quiet zone excluded.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Whether the module at column `x`, row `y` of the symbol is dark (quiet zone included:
    /// coordinates run from `0` to `width + 2 * QUIET_ZONE`, and the zone is light).
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        let (Some(x), Some(y)) = (x.checked_sub(QUIET_ZONE), y.checked_sub(QUIET_ZONE)) else {
            return false;
        };
        x < self.width
            && y < self.width
            && self.dark.get(y * self.width + x).copied().unwrap_or(false)
    }

    /// Modules per side, quiet zone included.
    pub fn full_width(&self) -> usize {
        self.width + 2 * QUIET_ZONE
    }

    /// An SVG document, `size` pixels square (the drawing scales; `shape-rendering` keeps edges
    /// crisp): a white background and one black path. No external resources.
    ///
    /// **Security:** encodes the secret; serve it only to the user enrolling, with `no-store`.
    pub fn to_svg(&self, size: u32) -> Zeroizing<String> {
        let n = self.full_width();
        let mut path = String::with_capacity(self.width * self.width * 4);
        for y in 0..n {
            let mut x = 0;
            while x < n {
                if self.is_dark(x, y) {
                    // A horizontal run of dark modules as one rectangle.
                    let start = x;
                    while x < n && self.is_dark(x, y) {
                        x += 1;
                    }
                    path.push_str(&format!("M{start} {y}h{}v1h-{}z", x - start, x - start));
                } else {
                    x += 1;
                }
            }
        }
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{size}\" height=\"{size}\" \
             viewBox=\"0 0 {n} {n}\" shape-rendering=\"crispEdges\" role=\"img\" \
             aria-label=\"QR code for your authenticator app\">\
             <rect width=\"{n}\" height=\"{n}\" fill=\"#fff\"/>\
             <path fill=\"#000\" d=\"{path}\"/></svg>"
        );
        zeroize::Zeroize::zeroize(&mut path);
        Zeroizing::new(svg)
    }

    /// A PNG image, `scale` pixels per module (1 to 64), 8-bit greyscale.
    ///
    /// **Security:** encodes the secret.
    ///
    /// # Errors
    /// [`QrError::Size`] for a scale out of range; [`QrError::Png`].
    pub fn to_png(&self, scale: u32) -> Result<Zeroizing<Vec<u8>>, QrError> {
        if !(1..=64).contains(&scale) {
            return Err(QrError::Size("scale must be 1 to 64 pixels per module"));
        }
        let n = self.full_width();
        let side = n * scale as usize;
        let mut pixels = Zeroizing::new(vec![255u8; side * side]);
        for y in 0..side {
            for x in 0..side {
                if self.is_dark(x / scale as usize, y / scale as usize) {
                    pixels[y * side + x] = 0;
                }
            }
        }
        let side32 = u32::try_from(side).map_err(|_| QrError::Size("image too large"))?;
        let mut out = Zeroizing::new(Vec::new());
        {
            let mut encoder = png::Encoder::new(&mut *out, side32, side32);
            encoder.set_color(png::ColorType::Grayscale);
            encoder.set_depth(png::BitDepth::Eight);
            let mut writer = encoder.write_header().map_err(|_| QrError::Png)?;
            writer.write_image_data(&pixels).map_err(|_| QrError::Png)?;
            writer.finish().map_err(|_| QrError::Png)?;
        }
        Ok(out)
    }

    /// Text for a terminal: two modules per character cell with Unicode half blocks, drawn black
    /// on white with ANSI colours so that it scans whatever the terminal's colour scheme.
    pub fn to_terminal(&self) -> Zeroizing<String> {
        self.half_blocks(true)
    }

    /// Like [`QrCode::to_terminal`] without colour codes: `█` is dark, space is light. Scans
    /// only where the terminal shows dark text on a light background.
    pub fn to_terminal_plain(&self) -> Zeroizing<String> {
        self.half_blocks(false)
    }

    fn half_blocks(&self, ansi: bool) -> Zeroizing<String> {
        let n = self.full_width();
        let mut out = Zeroizing::new(String::with_capacity((n + 12) * (n / 2 + 1) * 3));
        for y in (0..n).step_by(2) {
            if ansi {
                out.push_str("\x1b[30;47m");
            }
            for x in 0..n {
                let top = self.is_dark(x, y);
                let bottom = y + 1 < n && self.is_dark(x, y + 1);
                out.push(match (top, bottom) {
                    (true, true) => '█',
                    (true, false) => '▀',
                    (false, true) => '▄',
                    (false, false) => ' ',
                });
            }
            if ansi {
                out.push_str("\x1b[0m");
            }
            out.push('\n');
        }
        out
    }
}

impl fmt::Debug for QrCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QrCode")
            .field("width", &self.width)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_zone_is_light_and_scale_is_checked() {
        let qr =
            QrCode::from_text("otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").unwrap();
        let n = qr.full_width();
        for i in 0..n {
            for z in 0..QUIET_ZONE {
                assert!(!qr.is_dark(i, z) && !qr.is_dark(z, i));
                assert!(!qr.is_dark(i, n - 1 - z) && !qr.is_dark(n - 1 - z, i));
            }
        }
        // Finder pattern corner is dark.
        assert!(qr.is_dark(QUIET_ZONE, QUIET_ZONE));
        assert!(matches!(qr.to_png(0), Err(QrError::Size(_))));
        assert!(matches!(qr.to_png(65), Err(QrError::Size(_))));
        assert!(format!("{qr:?}").starts_with("QrCode { width:"));
        assert!(QrCode::from_text(&"x".repeat(5000)).is_err());
    }
}

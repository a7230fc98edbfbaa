//! Every QR rendering decodes back, with an independent decoder (`rqrr`), to the exact URI:
//! PNG (decoded with the `png` crate), SVG (rasterised with `resvg`) and terminal text (read back
//! cell by cell), for a short URI and long ones (a long issuer, a SHA-512 secret).
#![cfg(feature = "qr")]

use twofactor::{Algorithm, Digits, OtpAuthUri, QrCode, Secret};

fn uris() -> Vec<OtpAuthUri> {
    vec![
        OtpAuthUri::totp(Secret::generate(Algorithm::Sha1).unwrap(), "a@b.c")
            .unwrap()
            .with_issuer("X")
            .unwrap(),
        OtpAuthUri::totp(
            Secret::generate(Algorithm::Sha1).unwrap(),
            "alice@example.com",
        )
        .unwrap()
        .with_issuer("Example Co")
        .unwrap(),
        OtpAuthUri::totp(
            Secret::generate(Algorithm::Sha512).unwrap(),
            "a.very.long.account.name+2fa@subdomain.example.co.uk",
        )
        .unwrap()
        .with_issuer(
            "Société Générale de Services Numériques & Associés, Division Authentification",
        )
        .unwrap()
        .with_algorithm(Algorithm::Sha512)
        .with_digits(Digits::EIGHT),
    ]
}

/// Decodes a greyscale image (`luma(x, y)`, 0 = black) with rqrr.
fn decode(width: usize, height: usize, luma: impl Fn(usize, usize) -> u8) -> String {
    let mut img = rqrr::PreparedImage::prepare_from_greyscale(width, height, luma);
    let grids = img.detect_grids();
    assert_eq!(grids.len(), 1, "exactly one QR code found");
    let (_meta, content) = grids[0].decode().expect("the QR code decodes");
    content
}

#[test]
fn png_decodes_to_the_uri() {
    for uri in uris() {
        let qr = QrCode::new(&uri).unwrap();
        for scale in [3, 8] {
            let png_bytes = qr.to_png(scale).unwrap();
            let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes.to_vec()));
            let mut reader = decoder.read_info().unwrap();
            let mut buf = vec![0; reader.output_buffer_size().unwrap()];
            let info = reader.next_frame(&mut buf).unwrap();
            assert_eq!(info.color_type, png::ColorType::Grayscale);
            let (w, h) = (info.width as usize, info.height as usize);
            assert_eq!(w, qr.full_width() * scale as usize);
            let text = decode(w, h, |x, y| buf[y * w + x]);
            assert_eq!(text, *uri.expose_uri());
        }
    }
}

#[test]
fn svg_decodes_to_the_uri() {
    for uri in uris() {
        let qr = QrCode::new(&uri).unwrap();
        let svg = qr.to_svg(400);
        assert!(
            !svg.contains("http://") || svg.matches("http://").count() == 1,
            "no external resource"
        );
        let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default()).unwrap();
        let mut pixmap = resvg::tiny_skia::Pixmap::new(400, 400).unwrap();
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        let data = pixmap.data();
        let text = decode(400, 400, |x, y| data[(y * 400 + x) * 4]);
        assert_eq!(text, *uri.expose_uri());
    }
}

#[test]
fn terminal_text_decodes_to_the_uri() {
    for uri in uris() {
        let qr = QrCode::new(&uri).unwrap();
        for (text, ansi) in [(qr.to_terminal(), true), (qr.to_terminal_plain(), false)] {
            let mut modules: Vec<Vec<bool>> = Vec::new();
            for line in text.lines() {
                let line = line.replace("\x1b[30;47m", "").replace("\x1b[0m", "");
                assert!(!line.contains('\x1b'));
                let (mut top, mut bottom) = (Vec::new(), Vec::new());
                for c in line.chars() {
                    let (t, b) = match c {
                        '█' => (true, true),
                        '▀' => (true, false),
                        '▄' => (false, true),
                        ' ' => (false, false),
                        other => panic!("unexpected character {other:?}"),
                    };
                    top.push(t);
                    bottom.push(b);
                }
                modules.push(top);
                modules.push(bottom);
            }
            assert!(ansi == text.contains("\x1b["));
            let n = qr.full_width();
            assert_eq!(modules[0].len(), n);
            let scale = 4;
            let text = decode(n * scale, modules.len() * scale, |x, y| {
                if modules[y / scale][x / scale] {
                    0
                } else {
                    255
                }
            });
            assert_eq!(text, *uri.expose_uri());
        }
    }
}

#[test]
fn a_uri_too_long_for_a_qr_code_is_a_typed_error() {
    let text = format!(
        "otpauth://totp/x?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&pad={}",
        "x".repeat(3000)
    );
    assert_eq!(
        QrCode::from_text(&text).unwrap_err(),
        twofactor::QrError::TooLong
    );
}

use super::*;
use proptest::prelude::*;

/// A valid blob of `labels.len()` samples of `d` values.
fn blob(d: usize, features: &[f32], labels: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; encoded_len(labels.len(), d).unwrap()];
    assert_eq!(write(d, features, labels, &mut out), Ok(out.len()));
    out
}

#[test]
fn byte_layout_of_two_samples_of_three_values() {
    let features = [1.0f32, -2.0, 0.5, 0.0, 3.0, -0.25];
    let bytes = blob(3, &features, &[7, 1]);
    #[rustfmt::skip]
    let want: [u8; 38] = [
        b'M', b'S', b'M', b'P',
        2, 0, 0, 0, // n = 2
        3, 0, 0, 0, // d = 3
        0x00, 0x00, 0x80, 0x3F, // 1.0   = 0x3F80_0000
        0x00, 0x00, 0x00, 0xC0, // -2.0  = 0xC000_0000
        0x00, 0x00, 0x00, 0x3F, // 0.5   = 0x3F00_0000
        0x00, 0x00, 0x00, 0x00, // 0.0
        0x00, 0x00, 0x40, 0x40, // 3.0   = 0x4040_0000
        0x00, 0x00, 0x80, 0xBE, // -0.25 = 0xBE80_0000
        7, 1, // labels
    ];
    assert_eq!(bytes, want);
    assert_eq!(encoded_len(2, 3), Some(38));

    let s = Samples::parse(&want).unwrap();
    assert_eq!((s.n(), s.d(), s.labels()), (2, 3, &[7u8, 1][..]));
    let got: Vec<(Vec<f32>, u8)> = s
        .iter()
        .map(|x| {
            let mut v = [0.0f32; 3];
            x.read(&mut v).unwrap();
            (v.to_vec(), x.label())
        })
        .collect();
    assert_eq!(
        got,
        vec![(vec![1.0, -2.0, 0.5], 7), (vec![0.0, 3.0, -0.25], 1)]
    );
    assert_eq!(s.get(1).unwrap().bytes(), &want[24..36]);
    assert!(s.get(2).is_none());
}

#[test]
fn every_truncation_and_any_extension_is_refused() {
    let bytes = blob(3, &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], &[0, 1]);
    for k in 0..bytes.len() {
        let e = Samples::parse(&bytes[..k]).unwrap_err();
        let want = match k {
            0..4 => SamplesError::BadMagic,
            4..12 => SamplesError::TruncatedHeader { found: k },
            _ => SamplesError::LengthMismatch {
                expected: bytes.len(),
                found: k,
            },
        };
        assert_eq!(e, want, "{k} bytes");
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        Samples::parse(&longer).unwrap_err(),
        SamplesError::LengthMismatch {
            expected: bytes.len(),
            found: bytes.len() + 1
        }
    );
    let mut magic = bytes;
    magic[3] = b'Q';
    assert_eq!(Samples::parse(&magic).unwrap_err(), SamplesError::BadMagic);
}

#[test]
fn header_sizes_that_overflow_are_refused() {
    // n = d = u32::MAX: 4·n·d overflows even a 64-bit usize.
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&[0xFF; 8]);
    assert_eq!(
        Samples::parse(&b).unwrap_err(),
        SamplesError::TooLarge { what: "blob size" }
    );
    // A huge n with d = 0 does not overflow, but the blob is far too short.
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&u32::MAX.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(
        Samples::parse(&b).unwrap_err(),
        SamplesError::LengthMismatch {
            expected: 12 + u32::MAX as usize,
            found: 12
        }
    );
    assert_eq!(encoded_len(usize::MAX, 2), None);
    assert_eq!(encoded_len(usize::MAX, 0), None);
    assert_eq!(encoded_len(0, usize::MAX), Some(12));
}

#[test]
fn empty_and_zero_width_blobs() {
    let none = blob(4, &[], &[]);
    assert_eq!(none.len(), HEADER_BYTES);
    let s = Samples::parse(&none).unwrap();
    assert_eq!((s.n(), s.d(), s.iter().count()), (0, 4, 0));
    // d = 0: n empty samples, each still with its label.
    let flat = blob(0, &[], &[3, 4, 5]);
    let s = Samples::parse(&flat).unwrap();
    let labels: Vec<u8> = s.iter().map(|x| x.label()).collect();
    assert_eq!(labels, [3, 4, 5]);
    assert!(s.iter().all(|x| x.bytes().is_empty()));
    assert_eq!(s.iter().len(), 3);
    assert_eq!(s.get(2).map(|x| x.label()), Some(5));
}

#[test]
fn read_wants_exactly_d_values() {
    let bytes = blob(2, &[1.5, -3.0], &[9]);
    let s = Samples::parse(&bytes).unwrap();
    let x = s.get(0).unwrap();
    let mut short = [0.0f32; 1];
    let mut long = [0.0f32; 3];
    assert_eq!(
        x.read(&mut short),
        Err(crate::shape::ShapeError {
            expected: 2,
            found: 1
        })
    );
    assert!(x.read(&mut long).is_err());
    // The byte helper decodes as many values as both sides hold.
    assert_eq!(read_f32s(x.bytes(), &mut short), 1);
    assert_eq!(short, [1.5]);
    assert_eq!(read_f32s(x.bytes(), &mut long), 2);
    assert_eq!(long, [1.5, -3.0, 0.0]);
    assert_eq!(read_f32s(&x.bytes()[..7], &mut long), 1);
}

#[test]
fn write_refusals_are_typed_and_write_nothing() {
    let mut out = [0xAAu8; 64];
    assert_eq!(
        write(3, &[1.0; 5], &[0, 1], &mut out),
        Err(SamplesError::FeatureCount {
            expected: 6,
            found: 5
        })
    );
    for have in 0..38 {
        assert_eq!(
            write(3, &[1.0; 6], &[0, 1], &mut out[..have]),
            Err(SamplesError::BufferTooSmall { need: 38, have })
        );
    }
    assert!(out.iter().all(|&b| b == 0xAA));
    // A larger buffer is fine: the blob goes at its start, the rest stays as it was.
    assert_eq!(write(3, &[1.0; 6], &[0, 1], &mut out), Ok(38));
    assert!(out[38..].iter().all(|&b| b == 0xAA));
    assert!(Samples::parse(&out[..38]).is_ok());
    // Counts the u32 header fields cannot hold (d is checked before n · d is formed).
    assert_eq!(
        write(usize::MAX, &[], &[0, 1], &mut out),
        Err(SamplesError::TooLarge {
            what: "values per sample above u32::MAX"
        })
    );
    assert_eq!(
        check_counts(u32::MAX as usize + 1, 1),
        Err(SamplesError::TooLarge {
            what: "sample count above u32::MAX"
        })
    );
    assert_eq!(
        check_counts(u32::MAX as usize, u32::MAX as usize),
        Ok((u32::MAX, u32::MAX))
    );
    // d above u32::MAX with no samples (so n · d = 0 and the size is fine): still refused.
    assert_eq!(
        write(u32::MAX as usize + 1, &[], &[], &mut out),
        Err(SamplesError::TooLarge {
            what: "values per sample above u32::MAX"
        })
    );
    assert_eq!(
        write(u32::MAX as usize, &[], &[0, 1, 2, 3, 4], &mut out),
        Err(SamplesError::FeatureCount {
            expected: 5 * u32::MAX as usize,
            found: 0
        })
    );
}

#[test]
fn errors_display_their_counts() {
    let e = SamplesError::LengthMismatch {
        expected: 38,
        found: 30,
    };
    assert_eq!(
        e.to_string(),
        "samples blob length mismatch: the header implies 38 bytes, found 30"
    );
    assert_eq!(
        SamplesError::TruncatedHeader { found: 7 }.to_string(),
        "samples header truncated: need 12 bytes, found 7"
    );
    assert_eq!(
        SamplesError::BadMagic.to_string(),
        "not a samples blob (no MSMP magic)"
    );
    let _: &dyn core::error::Error = &e;
}

proptest! {
    #[test]
    fn round_trip_is_bit_exact(
        d in 0usize..6,
        rows in proptest::collection::vec((proptest::collection::vec(any::<u32>(), 6), any::<u8>()), 0..6),
    ) {
        // Raw bit patterns, so NaN payloads and signed zeros must survive too.
        let features: Vec<f32> = rows.iter().flat_map(|(v, _)| v[..d].iter().map(|&b| f32::from_bits(b))).collect();
        let labels: Vec<u8> = rows.iter().map(|&(_, l)| l).collect();
        let bytes = blob(d, &features, &labels);
        let s = Samples::parse(&bytes).unwrap();
        prop_assert_eq!((s.n(), s.d()), (labels.len(), d));
        let mut x = vec![0.0f32; d];
        let mut count = 0;
        for (i, sample) in s.iter().enumerate() {
            sample.read(&mut x).unwrap();
            let want: Vec<u32> = features[i * d..(i + 1) * d].iter().map(|v| v.to_bits()).collect();
            let got: Vec<u32> = x.iter().map(|v| v.to_bits()).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(sample.label(), labels[i]);
            count += 1;
        }
        prop_assert_eq!(count, labels.len());
    }

    #[test]
    fn random_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..80),
        header in (0u32..8, 0u32..8),
        magic in any::<bool>(),
    ) {
        // Half the cases get the magic and a small header, to reach the length checks and the
        // accepted path, not only the magic check.
        let mut b = Vec::new();
        if magic {
            b.extend_from_slice(&MAGIC);
            b.extend_from_slice(&header.0.to_le_bytes());
            b.extend_from_slice(&header.1.to_le_bytes());
        }
        b.extend_from_slice(&bytes);
        if let Ok(s) = Samples::parse(&b) {
            prop_assert_eq!(Some(b.len()), encoded_len(s.n(), s.d()));
            let mut x = vec![0.0f32; s.d()];
            prop_assert_eq!(s.iter().count(), s.n());
            for sample in &s {
                prop_assert!(sample.read(&mut x).is_ok());
            }
        }
    }
}

//! Fuzzes the user-data-file readers (`mote_host::data::file`): CSV, TSV, `.npz` and `.npy`
//! bytes (a `.npy` read as both the features and its own labels), read
//! with options chosen by the first input byte (header forced or inferred, --drop-nan, windows,
//! label by index), then loaded into train/test data sets. No panic on any file; what loads has
//! features in [0, 1] and labels below the class count.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;
use mote_host::data::file::{FileOptions, Format, load, read_table};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let format = match mode % 4 {
        0 => Format::Csv,
        1 => Format::Tsv,
        2 => Format::Npz,
        _ => Format::Npy,
    };
    let path = std::env::temp_dir().join(format!("mote-fuzz-data-{}", std::process::id()));
    let Ok(mut f) = std::fs::File::create(&path) else {
        return;
    };
    if f.write_all(body).is_err() {
        return;
    }
    drop(f);
    let opts = FileOptions {
        format: Some(format),
        header: match (mode >> 2) % 3 {
            0 => None,
            1 => Some(true),
            _ => Some(false),
        },
        drop_nan: mode & 0x20 != 0,
        window: (mode & 0x40 != 0).then_some(2),
        hop: (mode & 0x40 != 0).then_some(1),
        label: if format == Format::Npy {
            Some(path.display().to_string())
        } else {
            (mode & 0x80 != 0).then(|| "0".to_string())
        },
        ..FileOptions::default()
    };
    if let Ok((t, _)) = read_table(&path, &opts) {
        assert_eq!(t.values.len(), t.rows * t.width);
        assert!(t.values.iter().all(|v| v.is_finite()));
        assert!(t.labels.iter().all(|&l| (l as usize) < t.class_names.len()));
    }
    if let Ok(l) = load(&path, &opts) {
        for d in [&l.train, &l.test] {
            assert_eq!(d.features.len(), d.n * d.d);
            assert!(d.features.iter().all(|v| (0.0..=1.0).contains(v)));
            assert!(d.labels.iter().all(|&y| usize::from(y) < d.classes));
        }
    }
});

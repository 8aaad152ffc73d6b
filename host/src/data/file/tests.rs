use super::*;
use proptest::prelude::*;

fn dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mote-file-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A data set as pandas' `to_csv(index=False)` writes it: a header, floats in their shortest
/// round-tripping form, the label last.
fn to_csv(d: &Dataset, names: Option<&[&str]>) -> String {
    let mut s: String = (0..d.d).map(|i| format!("p{i},")).collect();
    s += "label\n";
    for i in 0..d.n {
        for v in d.row(i) {
            s += &format!("{v},");
        }
        match names {
            Some(n) => s += n[usize::from(d.labels[i])],
            None => s += &d.labels[i].to_string(),
        }
        s.push('\n');
    }
    s
}

/// Per-column min–max of `train` applied to `d` (an independent restatement of the scaling).
fn minmax(train: &Dataset, d: &Dataset) -> Vec<f32> {
    let mut out = Vec::with_capacity(d.features.len());
    for i in 0..d.n {
        for c in 0..d.d {
            let col = (0..train.n).map(|r| train.features[r * train.d + c]);
            let lo = col.clone().fold(f32::INFINITY, f32::min);
            let hi = col.fold(f32::NEG_INFINITY, f32::max);
            let x = d.features[i * d.d + c];
            out.push(if hi > lo {
                ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
            } else {
                0.0
            });
        }
    }
    out
}

#[test]
fn csv_round_trip_of_the_bundled_digits() {
    let (train, test) = crate::data::Catalog::default()
        .load("digits")
        .expect("bundled");
    let d = dir("digits");
    let (tp, ep) = (d.join("train.csv"), d.join("test.csv"));
    std::fs::write(&tp, to_csv(&train, None)).expect("writes");
    std::fs::write(&ep, to_csv(&test, None)).expect("writes");
    let opts = FileOptions {
        test: Some(ep.clone()),
        ..FileOptions::default()
    };
    let l = load(&tp, &opts).expect("loads");
    assert_eq!((l.train.n, l.train.d, l.train.classes), (train.n, 64, 10));
    assert_eq!(l.train.labels, train.labels);
    assert_eq!(l.test.labels, test.labels);
    assert_eq!(l.train.features, minmax(&train, &train));
    assert_eq!(l.test.features, minmax(&train, &test));
    assert_eq!(l.info.channel_names[0], "p0");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn ts_and_idx_paths_give_the_bundled_tensors() {
    let root = crate::data::Catalog::default()
        .data_dir()
        .expect("data dir");
    let ts = root.join("basicmotions/BasicMotions_TRAIN.ts");
    let l = load(&ts, &FileOptions::default()).expect("loads");
    let (train, test) = crate::data::ts::load_basicmotions().expect("bundled");
    assert_eq!(
        l.test_source,
        root.join("basicmotions/BasicMotions_TEST.ts")
            .display()
            .to_string()
    );
    assert_eq!((l.train.clone(), l.test.clone()), (train, test));
    assert_eq!(l.info.channels, 6);
    assert_eq!(l.info.length, 100);
    // IDX: the Fashion-MNIST training images by path, the t10k files found as their partner.
    let fm = crate::data::Catalog::default().fashion_mnist_dir();
    let images = fm.join("train-images-idx3-ubyte.gz");
    if images.is_file() {
        let l = load(&images, &FileOptions::default()).expect("loads");
        let (train, test) = crate::data::idx::load_mnist_dir(&fm).expect("loads");
        assert_eq!(l.train, train);
        assert_eq!(l.test, test);
    }
}

#[test]
fn class_names_streams_and_errors_name_line_and_column() {
    let d = dir("errors");
    let p = d.join("walk.csv");
    // A recording: 12 steps of x,y with an activity per step, CRLF line ends, quoted names.
    let mut s = String::from("x,y,\"activity\"\r\n");
    for t in 0..12 {
        let name = if t < 6 { "\"rest\"" } else { "walk" };
        s += &format!("{},{},{name}\r\n", t as f32, (t * 10) as f32);
    }
    std::fs::write(&p, &s).expect("writes");
    let opts = FileOptions {
        window: Some(3),
        hop: Some(3),
        test_split: 0.5,
        ..FileOptions::default()
    };
    // Half by time: the first 6 steps train, two windows both `rest`: one class, refused.
    let e = load(&p, &opts)
        .map(|_| ())
        .expect_err("one class")
        .to_string();
    assert!(e.contains("1 class (rest)"), "{e}");
    let two = FileOptions {
        hop: Some(1),
        test_split: 0.25,
        ..opts
    };
    let l = load(&p, &two).expect("loads");
    assert_eq!(l.class_names, vec!["rest", "walk"]);
    // Train = steps 0..9: windows starting 0..6 (7 windows), channel-major [x0 x1 x2 y0 y1 y2].
    assert_eq!((l.train.n, l.train.d), (7, 6));
    // A window takes its majority: start 4 is rest, rest, walk; start 5 is rest, walk, walk.
    assert_eq!(l.train.labels, vec![0, 0, 0, 0, 0, 1, 1]);
    // Channel-major, scaled by the training range (x 0..8, y 0..80): x 0, 1, 2 then y 0, 10, 20.
    let r = &l.train.features[..6];
    assert_eq!(r, &[0.0, 0.125, 0.25, 0.0, 0.125, 0.25]);
    // The same windows as series for the recurrent models: time-major and unscaled.
    let (train, test, _) = super::load_series(&p, &two).expect("series");
    assert_eq!(
        (train.series.len(), train.channels, train.length),
        (7, 2, 3)
    );
    assert_eq!(
        train.series[1].values,
        vec![1.0, 10.0, 2.0, 20.0, 3.0, 30.0]
    );
    assert_eq!(
        train.series.iter().map(|s| s.label).collect::<Vec<_>>(),
        l.train
            .labels
            .iter()
            .map(|&l| l as usize)
            .collect::<Vec<_>>()
    );
    assert_eq!((test.series.len(), test.classes.len()), (l.test.n, 2));

    let bad = |text: &str, opts: &FileOptions| -> String {
        std::fs::write(&p, text).expect("writes");
        load(&p, opts).map(|_| ()).expect_err(text).to_string()
    };
    let o = FileOptions::default();
    let e = bad("a,b,label\n1,2,x\n3,oops,y\n", &o);
    assert!(
        e.contains("line 3, column 2 (`b`): `oops` is not a number"),
        "{e}"
    );
    let e = bad("a,b,label\n1,2,x\n3,y\n", &o);
    assert!(e.contains("line 3 has 2 fields; the header has 3"), "{e}");
    let e = bad("a,b,label\n1,NaN,x\n3,4,y\n", &o);
    assert!(
        e.contains("line 2, column 2 (`b`): missing value `NaN`; pass --drop-nan"),
        "{e}"
    );
    let e = bad("a,b,label\n1,inf,x\n3,4,y\n", &o);
    assert!(e.contains("non-finite value `inf`"), "{e}");
    let e = bad(
        "a,b,label\n1,2,x\n3,4,y\n",
        &FileOptions {
            label: Some("class".into()),
            ..o.clone()
        },
    );
    assert!(
        e.contains("--label `class` is not a column; the 3 columns are: a, b, label"),
        "{e}"
    );
    let e = bad("a,b,label\n1,2,x\n\0\0\0\0", &o);
    assert!(e.contains("NUL byte"), "{e}");
    // A spreadsheet export with semicolons.
    std::fs::write(&p, "a;b;label\n1;2;x\n3;4;y\n").expect("writes");
    let t = read_table(&p, &o).expect("reads").0;
    assert_eq!(
        (t.rows, t.width, t.values.clone()),
        (2, 2, vec![1.0, 2.0, 3.0, 4.0])
    );
    // --drop-nan drops and counts.
    std::fs::write(&p, "a,b,label\n1,,x\n3,4,y\n5,6,x\n7,8,y\n9,NA,y\n").expect("writes");
    let (t, _) = read_table(
        &p,
        &FileOptions {
            drop_nan: true,
            ..o.clone()
        },
    )
    .expect("reads");
    assert_eq!((t.dropped, t.rows), (2, 3));
    assert_eq!(t.values, vec![3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    // Feature columns by name and range.
    std::fs::write(
        &p,
        "id,a,b,c,label\n0,1,2,3,x\n1,4,5,6,y\n2,7,8,9,x\n3,1,1,1,y\n",
    )
    .expect("writes");
    let t = read_table(
        &p,
        &FileOptions {
            features: Some("c,1:3".into()),
            ..o.clone()
        },
    )
    .expect("reads")
    .0;
    assert_eq!(t.channel_names, vec!["c", "a", "b"]);
    assert_eq!(&t.values[..3], &[3.0, 1.0, 2.0]);
    let _ = std::fs::remove_dir_all(&d);
}

/// An `.npz` like `np.savez` (stored) or `np.savez_compressed` (deflated) writes.
fn npz(members: &[(&str, Vec<u8>)], deflate: bool) -> Vec<u8> {
    use std::io::Write;
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        let method = if deflate {
            zip::CompressionMethod::Deflated
        } else {
            zip::CompressionMethod::Stored
        };
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, bytes) in members {
            z.start_file(format!("{name}.npy"), opts).expect("member");
            z.write_all(bytes).expect("writes");
        }
        z.finish().expect("finishes");
    }
    buf.into_inner()
}

#[test]
fn npz_round_trips_tabular_and_series_sets() {
    use super::npz::tests::npy;
    let d = dir("npz");
    let p = d.join("set.npz");
    // x: (4, 3) float64, y: int64 classes 0..1.
    let x: Vec<f64> = vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0];
    let xb: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    let yb: Vec<u8> = [0i64, 1, 0, 1]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    for deflate in [false, true] {
        std::fs::write(
            &p,
            npz(
                &[
                    ("x", npy("<f8", &[4, 3], false, &xb)),
                    ("y", npy("<i8", &[4], false, &yb)),
                ],
                deflate,
            ),
        )
        .expect("writes");
        let t = read_table(&p, &FileOptions::default()).expect("reads").0;
        assert_eq!((t.rows, t.width, t.channels), (4, 3, 3));
        assert_eq!(t.values, x.iter().map(|&v| v as f32).collect::<Vec<_>>());
        assert_eq!(t.labels, vec![0, 1, 0, 1]);
    }
    // (n, channels, length) float32 with string labels, other keys.
    let xs: Vec<u8> = (0..2 * 2 * 3)
        .flat_map(|v| (v as f32).to_le_bytes())
        .collect();
    let ys: Vec<u8> = "up\0dn\0"
        .chars()
        .flat_map(|c| (c as u32).to_le_bytes())
        .collect();
    std::fs::write(
        &p,
        npz(
            &[
                ("X_train", npy("<f4", &[2, 2, 3], false, &xs)),
                ("labels", npy("<U3", &[2], false, &ys)),
            ],
            false,
        ),
    )
    .expect("writes");
    let opts = FileOptions {
        x_key: "X_train".into(),
        y_key: "labels".into(),
        ..FileOptions::default()
    };
    let t = read_table(&p, &opts).expect("reads").0;
    assert_eq!((t.rows, t.width, t.channels, t.length()), (2, 6, 2, 3));
    assert_eq!(t.class_names, vec!["dn", "up"]);
    assert_eq!(t.labels, vec![1, 0]);
    let e = read_table(&p, &FileOptions::default())
        .map(|_| ())
        .expect_err("keys")
        .to_string();
    assert!(
        e.contains("no array `x` (member x.npy); the archive holds: X_train, labels"),
        "{e}"
    );
    // Labels that do not match the rows.
    std::fs::write(
        &p,
        npz(
            &[
                ("x", npy("<f8", &[4, 3], false, &xb)),
                ("y", npy("<i8", &[3], false, &yb[..24])),
            ],
            false,
        ),
    )
    .expect("writes");
    let e = read_table(&p, &FileOptions::default())
        .map(|_| ())
        .expect_err("rows")
        .to_string();
    assert!(e.contains("expected (4,)"), "{e}");
    assert_eq!(infer_format(&p).expect("infers"), Format::Npz);
    let _ = std::fs::remove_dir_all(&d);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn generated_csvs_read_back_exactly(
        rows in proptest::collection::vec(
            (proptest::collection::vec(-1e6f32..1e6f32, 3), 0usize..3),
            2..20,
        ),
        header in any::<bool>(),
        crlf in any::<bool>(),
        trailing in any::<bool>(),
        quote_all in any::<bool>(),
    ) {
        let names = ["idle", "walk, fast", "say \"hi\""];
        let q = |s: &str| -> String {
            if quote_all || s.contains(',') || s.contains('"') {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut lines: Vec<String> = Vec::new();
        if header {
            lines.push(["a", "b", "c", "class"].iter().map(|s| q(s)).collect::<Vec<_>>().join(","));
        }
        for (v, c) in &rows {
            let mut cells: Vec<String> = v.iter().map(|x| q(&x.to_string())).collect();
            cells.push(q(names[*c]));
            lines.push(cells.join(","));
        }
        let mut text = lines.join(eol);
        if trailing {
            text += eol;
        }
        let d = dir("prop");
        let p = d.join("g.csv");
        std::fs::write(&p, &text).expect("writes");
        let t = read_table(&p, &FileOptions::default()).expect("reads").0;
        let _ = std::fs::remove_file(&p);
        prop_assert_eq!(t.rows, rows.len());
        prop_assert_eq!(t.width, 3);
        let want: Vec<f32> = rows.iter().flat_map(|(v, _)| v.clone()).collect();
        prop_assert_eq!(t.values, want);
        for (l, (_, c)) in t.labels.iter().zip(&rows) {
            prop_assert_eq!(&t.class_names[*l as usize], names[*c]);
        }
        if header {
            prop_assert_eq!(t.channel_names, vec!["a", "b", "c"]);
        }
    }
}

/// Files pandas and NumPy wrote (`tools/fixtures/pandas_numpy.py`; versions in
/// `host/tests/fixtures/VERSIONS`): the first 60 training and 20 test rows of the bundled
/// digits as a quoted CRLF CSV with class names, an `np.savez` archive (f4 `x`, i8 `y`), an
/// `np.savez_compressed` one (f8 `x`, `<U5` names) and `np.save` pairs (f2 `X_*.npy`, u1
/// `y_*.npy`). Each reads back to the bundled tensors, scaled with the training rows' ranges.
#[test]
fn files_written_by_pandas_and_numpy_give_the_bundled_tensors() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let (train, test) = crate::data::Catalog::default()
        .load("digits")
        .expect("bundled");
    let (train, test) = (train.take(60), test.take(20));
    let names = [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    for (tr, te, named) in [
        ("digits_train.csv", Some("digits_test.csv"), true),
        ("digits_train.npz", Some("digits_test.npz"), false),
        ("digits_train_z.npz", Some("digits_test_z.npz"), true),
        // np.save: f2 features in X_train.npy, u1 labels found beside it (y_train.npy), the
        // test pair found as its partner (X_test.npy, y_test.npy).
        ("npy/X_train.npy", None, false),
    ] {
        let opts = FileOptions {
            test: te.map(|te| fixtures.join(te)),
            ..FileOptions::default()
        };
        let l = load(&fixtures.join(tr), &opts).unwrap_or_else(|e| panic!("{tr}: {e}"));
        assert_eq!((l.train.n, l.train.d, l.test.n), (60, 64, 20), "{tr}");
        assert_eq!(l.train.features, minmax(&train, &train), "{tr}");
        assert_eq!(l.test.features, minmax(&train, &test), "{tr}");
        let label = |d: &Dataset, i: usize| l.class_names[usize::from(d.labels[i])].clone();
        for (ours, bundled) in [(&l.train, &train), (&l.test, &test)] {
            for i in 0..bundled.n {
                let want = usize::from(bundled.labels[i]);
                let want = if named {
                    names[want].to_string()
                } else {
                    want.to_string()
                };
                assert_eq!(label(ours, i), want, "{tr} row {i}");
            }
        }
    }
}

#[test]
fn a_npy_without_labels_beside_it_says_where_it_looked() {
    let d = dir("npy");
    let p = d.join("X_train.npy");
    let x = super::npz::tests::npy("<f4", &[2, 1], false, &[0u8; 8]);
    std::fs::write(&p, x).expect("writes");
    let e = load(&p, &FileOptions::default())
        .expect_err("no labels")
        .to_string();
    assert!(
        e.contains("X_train.npy") && e.contains("y_train.npy") && e.contains("--label"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

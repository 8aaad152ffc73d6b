//! Online dictionary learning on the Cortex-M4F under QEMU (`firmware/src/bin/dict.rs`): the ECG
//! stream and the synthetic run must equal the host's recomputation bit for bit, and the device
//! results must be meaningful (error falls, orthogonality holds, instruction counts present).

use mote_host::data::Catalog;
use mote_host::device::{Board, Firmware};

#[test]
fn dict_firmware_matches_host_bit_for_bit_on_cortex_m4f() {
    let r = mote_host::dict::firmware::run_on(
        &Firmware::default(),
        &Catalog::default(),
        Board::Mps2An386,
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let n = r.config.n;
    // Every checkpoint, every dictionary entry and every synthetic checkpoint was compared.
    assert_eq!(
        r.values_compared,
        r.checkpoints.len() + n * n + r.synthetic_err.len()
    );
    // The dictionary learned on the device beats the DCT on the held-out ECG windows (top-k).
    let (_, signal, _) =
        mote_host::dict::stream::load_signal(&Catalog::default(), mote_host::dict::DataKind::Ecg)
            .unwrap();
    let mut dct = vec![0.0f32; n * n];
    mote_core::dict::dct_basis(n, &mut dct).unwrap();
    let dct = mote_core::dict::OrthoDict::new(n, &dct).unwrap();
    let dct_rmse =
        mote_host::dict::stream::test_rmse(&dct, &signal[r.config.train_end..], r.config.k)
            .unwrap();
    let learned = r.checkpoints.last().expect("ECG checkpoints").rmse;
    assert!(learned < dct_rmse, "learned {learned} vs DCT {dct_rmse}");
    assert!(r.orthogonality_defect < 1e-4, "{}", r.orthogonality_defect);
    // The synthetic run (n = 16) recovers its dictionary on the device.
    let last = r.synthetic_err.last().expect("synthetic checkpoints").1;
    assert!(last < 1e-2, "device err after the synthetic run: {last}");
    assert!(r.synthetic_err[0].1 > last);
    // One entry per bench size, each with every bracketed update counted.
    let sizes: Vec<usize> = r.insns_per_update.iter().map(|i| i.n).collect();
    assert_eq!(sizes, [16, 32, 64]);
    for i in &r.insns_per_update {
        assert!(i.min > 0 && i.min as f64 <= i.mean && i.mean <= i.max as f64);
    }
}

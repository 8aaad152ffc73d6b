//! Fuzzes the safetensors readers: the bounded file reader's size checks
//! (`mote_host::input::safetensors_from`, as a regular file of the input's size and as a stream),
//! the MLP loader (`Mlp::from_safetensors`) and the plugin models' parser (`Model::parse`). None
//! may panic; the size checks must treat a file and a stream of the same bytes alike and never
//! refuse a file the parsers accept; an MLP that loads must survive its own round trip.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use mote_host::input;
use mote_host::nn::mlp::Mlp;
use mote_host::plugin::models::Model;

fuzz_target!(|data: &[u8]| {
    let p = Path::new("fuzz.safetensors");
    let sized = input::safetensors_from(&mut &data[..], Some(data.len() as u64), p);
    let stream = input::safetensors_from(&mut &data[..], None, p);
    if let Ok(bytes) = &sized {
        assert_eq!(
            bytes.as_slice(),
            data,
            "the reader returns the file as it is"
        );
    }
    assert_eq!(sized.is_ok(), stream.is_ok(), "{sized:?} vs {stream:?}");
    if let Ok(mlp) = Mlp::from_safetensors(data, p) {
        assert!(
            sized.is_ok(),
            "a loadable MLP file refused by the reader: {sized:?}"
        );
        let again = Mlp::from_safetensors(&mlp.to_safetensors(), p).expect("own output loads");
        assert_eq!(again, mlp);
        let _ = mlp.forward(&vec![0.5; mlp.in_dim()], 1);
    }
    if let Ok(model) = Model::parse(p, data) {
        assert!(
            sized.is_ok(),
            "a parsable model file refused by the reader: {sized:?}"
        );
        model
            .check_aligned(&model)
            .expect("a model is aligned with itself");
        let _ = model.values();
    }
});

//! Scalar activation functions on `f32` through `libm`, so the host simulator and the firmware
//! compute the same bits (no platform `exp`, no fused multiply-add).

/// `x · σ(x)`.
#[inline]
pub fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// `1 / (1 + e^{−x})`, evaluated on the side that cannot overflow.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + libm::expf(-x))
    } else {
        let e = libm::expf(x);
        e / (1.0 + e)
    }
}

/// `ln σ(x) = −softplus(−x)`.
#[inline]
pub fn log_sigmoid(x: f32) -> f32 {
    -softplus(-x)
}

/// `ln(1 + e^x)`, stable for large `|x|`.
#[inline]
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else if x < -20.0 {
        libm::expf(x)
    } else {
        libm::log1pf(libm::expf(x))
    }
}

/// In-place softmax (max subtracted, sequential sums). Empty input is left alone.
pub fn softmax(x: &mut [f32]) {
    let Some(&first) = x.first() else { return };
    let mut max = first;
    for &v in x.iter() {
        if v > max {
            max = v;
        }
    }
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = libm::expf(*v - max);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

/// In-place `x / max(‖x‖₂, 1e-6)` (the `eps` keeps an all-zero key finite).
pub fn l2_normalize(x: &mut [f32]) {
    let mut ss = 0.0f32;
    for &v in x.iter() {
        ss += v * v;
    }
    let n = libm::sqrtf(ss).max(1e-6);
    for v in x.iter_mut() {
        *v /= n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activations_match_closed_forms() {
        for &x in &[-30.0f32, -5.0, -0.5, 0.0, 0.5, 5.0, 30.0] {
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((sigmoid(x) as f64 - s).abs() < 1e-7, "sigmoid({x})");
            assert!((log_sigmoid(x) as f64 - s.ln()).abs() < 1e-5 * (1.0 + s.ln().abs()));
            let sp = (1.0 + (x as f64).exp()).ln();
            assert!(
                (softplus(x) as f64 - sp).abs() < 1e-6 * (1.0 + sp),
                "softplus({x})"
            );
            assert!((silu(x) as f64 - x as f64 * s).abs() < 1e-5);
        }
    }

    #[test]
    fn softmax_sums_to_one_and_orders() {
        let mut v = [1.0f32, 2.0, 3.0, 20.0];
        softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[3] > 0.999 && v[0] < v[1] && v[1] < v[2]);
        let mut u = [0.5f32, 0.5];
        softmax(&mut u);
        assert_eq!(u, [0.5, 0.5]);
    }

    #[test]
    fn l2_normalize_unit_and_zero() {
        let mut v = [3.0f32, 4.0];
        l2_normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0f32; 3];
        l2_normalize(&mut z);
        assert_eq!(z, [0.0; 3]);
    }
}

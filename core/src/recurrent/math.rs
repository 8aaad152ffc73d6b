//! Scalar activation functions on `f32`, so the host simulator and the firmware compute the same
//! bits (no platform `exp`, no fused multiply-add): through `libm` by default, or through
//! `micromath`'s approximations when a model opts in ([`Math::Fast`], a flag in its file).
//! The free functions are the `libm` ones.

/// Which `exp` and `ln` the activation functions of a cell use. Both are plain `f32` code that
/// gives the same bits on every target; a model file chooses per recurrent layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Math {
    /// `libm`'s correctly rounded-or-nearly `expf` / `log1pf` (the default).
    #[default]
    Libm,
    /// `micromath`'s approximations (`exp`: range reduction by ln 2 and a short series, at most
    /// 0.24 % relative error on [−20, 20] (the test measures it); `ln`: a bit-level
    /// approximation): fewer instructions per call.
    Fast,
}

impl Math {
    /// `e^x`.
    #[inline]
    pub fn exp(self, x: f32) -> f32 {
        match self {
            Math::Libm => libm::expf(x),
            // Called through the trait by name: on the host, `x.exp()` would pick std's
            // inherent method instead and the simulator would no longer match the device.
            Math::Fast => micromath::F32Ext::exp(x),
        }
    }

    /// `ln(1 + e^x)` for `|x| ≤ 20`.
    #[inline]
    fn ln_1p_exp(self, x: f32) -> f32 {
        match self {
            Math::Libm => libm::log1pf(libm::expf(x)),
            Math::Fast => micromath::F32Ext::ln(1.0 + self.exp(x)),
        }
    }

    /// `1 / (1 + e^{−x})`, evaluated on the side that cannot overflow.
    #[inline]
    pub fn sigmoid(self, x: f32) -> f32 {
        if x >= 0.0 {
            1.0 / (1.0 + self.exp(-x))
        } else {
            let e = self.exp(x);
            e / (1.0 + e)
        }
    }

    /// `x · σ(x)`.
    #[inline]
    pub fn silu(self, x: f32) -> f32 {
        x * self.sigmoid(x)
    }

    /// `ln(1 + e^x)`, stable for large `|x|`.
    #[inline]
    pub fn softplus(self, x: f32) -> f32 {
        if x > 20.0 {
            x
        } else if x < -20.0 {
            self.exp(x)
        } else {
            self.ln_1p_exp(x)
        }
    }

    /// `ln σ(x) = −softplus(−x)`.
    #[inline]
    pub fn log_sigmoid(self, x: f32) -> f32 {
        -self.softplus(-x)
    }

    /// In-place softmax (max subtracted, sequential sums). Empty input is left alone.
    pub fn softmax(self, x: &mut [f32]) {
        let Some(&first) = x.first() else { return };
        let mut max = first;
        for &v in x.iter() {
            if v > max {
                max = v;
            }
        }
        let mut sum = 0.0f32;
        for v in x.iter_mut() {
            *v = self.exp(*v - max);
            sum += *v;
        }
        for v in x.iter_mut() {
            *v /= sum;
        }
    }
}

/// `x · σ(x)` ([`Math::Libm`]).
#[inline]
pub fn silu(x: f32) -> f32 {
    Math::Libm.silu(x)
}

/// `1 / (1 + e^{−x})` ([`Math::Libm`]).
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    Math::Libm.sigmoid(x)
}

/// `ln σ(x) = −softplus(−x)` ([`Math::Libm`]).
#[inline]
pub fn log_sigmoid(x: f32) -> f32 {
    Math::Libm.log_sigmoid(x)
}

/// `ln(1 + e^x)`, stable for large `|x|` ([`Math::Libm`]).
#[inline]
pub fn softplus(x: f32) -> f32 {
    Math::Libm.softplus(x)
}

/// In-place softmax, max subtracted, sequential sums ([`Math::Libm`]).
pub fn softmax(x: &mut [f32]) {
    Math::Libm.softmax(x)
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
    fn fast_math_stays_close_to_the_closed_forms_and_finite_at_the_extremes() {
        let f = Math::Fast;
        let mut worst = 0.0f64;
        for i in -2000..=2000 {
            let x = i as f32 / 100.0; // -20 ..= 20
            let e = (x as f64).exp();
            worst = worst.max(((f.exp(x) as f64) - e).abs() / e);
            let s = 1.0 / (1.0 + (-(x as f64)).exp());
            assert!((f.sigmoid(x) as f64 - s).abs() < 1e-3, "sigmoid({x})");
            let sp = (1.0 + (x as f64).exp()).ln();
            assert!(
                (f.softplus(x) as f64 - sp).abs() < 1e-2 * (1.0 + sp),
                "softplus({x})"
            );
        }
        assert!(worst < 2.5e-3, "exp relative error {worst}");
        for x in [-1e4f32, -200.0, -88.0, 88.0, 200.0] {
            assert!(
                f.sigmoid(x).is_finite() && (0.0..=1.0).contains(&f.sigmoid(x)),
                "{x}"
            );
        }
        let mut v = [1.0f32, 2.0, 3.0, 20.0];
        f.softmax(&mut v);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-3 && v[3] > 0.99);
        // Not the libm bits: the flag matters.
        assert_ne!(f.exp(0.3).to_bits(), Math::Libm.exp(0.3).to_bits());
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

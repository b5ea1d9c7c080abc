//! The vector arm's exact scan over an in-memory copy of every chunk vector, as f32 or as
//! int8 with one scale per vector. Brute force on purpose: measured at 100,000 × 384 it is
//! 4–8× faster than sqlite-vec's `vec0` KNN here, and exact (research file, part B.2).
//!
//! The kernels are safe Rust written so that the compiler vectorises them (16 independent
//! f32 accumulators); f32 is the default, int8 a quarter of the memory (see [`dot_i8`]).

use super::embed::Quantize;
use super::vectors::ChunkRef;

/// Every chunk vector of one model, ready to scan.
pub struct VectorSet {
    pub dims: usize,
    pub refs: Vec<ChunkRef>,
    data: Data,
}

enum Data {
    F32(Vec<f32>),
    /// Quantized values and each vector's scale (value ≈ q × scale).
    Int8(Vec<i8>, Vec<f32>),
}

impl VectorSet {
    /// `data` holds `refs.len()` vectors of `dims` numbers each, which are normalised here
    /// (cosine similarity becomes a dot product).
    pub fn new(dims: usize, refs: Vec<ChunkRef>, mut data: Vec<f32>, quantize: Quantize) -> VectorSet {
        debug_assert_eq!(data.len(), refs.len() * dims);
        if dims > 0 {
            data.chunks_exact_mut(dims).for_each(super::embed::normalize);
        }
        let data = match quantize {
            Quantize::F32 => Data::F32(data),
            Quantize::Int8 => {
                let mut q = Vec::with_capacity(data.len());
                let mut scales = Vec::with_capacity(refs.len());
                for v in data.chunks_exact(dims.max(1)) {
                    let (values, scale) = quantize_one(v);
                    q.extend(values);
                    scales.push(scale);
                }
                Data::Int8(q, scales)
            }
        };
        VectorSet { dims, refs, data }
    }

    pub fn len(&self) -> usize {
        self.refs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// Bytes the vectors take in memory (reported by the benchmark).
    pub fn bytes(&self) -> usize {
        let refs = self.refs.len() * std::mem::size_of::<ChunkRef>();
        refs + match &self.data {
            Data::F32(v) => v.len() * 4,
            Data::Int8(q, s) => q.len() + s.len() * 4,
        }
    }

    /// The `k` chunks most similar to `query` (normalised here) among those `keep` accepts
    /// (by index into [`VectorSet::refs`]), best first, as (index, cosine similarity).
    pub fn top(&self, query: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<(usize, f32)> {
        if query.len() != self.dims || self.dims == 0 || k == 0 {
            return Vec::new();
        }
        let mut q = query.to_vec();
        super::embed::normalize(&mut q);
        let mut scored: Vec<(usize, f32)> = Vec::with_capacity(self.refs.len());
        match &self.data {
            Data::F32(data) => {
                for (i, v) in data.chunks_exact(self.dims).enumerate() {
                    if keep(i) {
                        scored.push((i, dot_f32(&q, v)));
                    }
                }
            }
            Data::Int8(data, scales) => {
                let (qq, qs) = quantize_one(&q);
                for (i, v) in data.chunks_exact(self.dims).enumerate() {
                    if keep(i) {
                        scored.push((i, dot_i8(&qq, v) as f32 * qs * scales[i]));
                    }
                }
            }
        }
        let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if scored.len() > k {
            scored.select_nth_unstable_by(k - 1, by_score);
            scored.truncate(k);
        }
        scored.sort_unstable_by(by_score);
        scored
    }
}

/// Symmetric int8 quantisation of one vector: the largest magnitude maps to 127.
fn quantize_one(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return (vec![0; v.len()], 0.0);
    }
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

/// Dot product with 16 independent accumulators (vectorised by the compiler).
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

/// Dot product of two int8 vectors in i32 (at most 127² × dims: no overflow below 130k
/// dims), each product formed in i16, where it fits. Measured on a baseline x86-64 build
/// (no SSE4.1/AVX2), this and the other shapes tried (i32 products, pairs summed as a
/// multiply-add, a query widened to i16, i16 storage) all take 9–11 ms over 100,000 × 256
/// against 4–6 ms for [`dot_f32`]: int8 saves memory, not time, there.
pub fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (ca, cb) = (a.chunks_exact(32), b.chunks_exact(32));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            let p0 = i16::from(x[2 * l]) * i16::from(y[2 * l]);
            let p1 = i16::from(x[2 * l + 1]) * i16::from(y[2 * l + 1]);
            acc[l] += i32::from(p0) + i32::from(p1);
        }
    }
    let tail: i32 = ra.iter().zip(rb).map(|(x, y)| i32::from(i16::from(*x) * i16::from(*y))).sum();
    acc.iter().sum::<i32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(n: usize) -> Vec<ChunkRef> {
        (0..n).map(|i| ChunkRef { note: i as i64, start_line: 1, end_line: 1, chunk: i as i64 }).collect()
    }

    /// Deterministic pseudo-random vectors.
    fn vectors(n: usize, dims: usize, seed: u64) -> Vec<f32> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..n * dims).map(|_| rng.f32() * 2.0 - 1.0).collect()
    }

    #[test]
    fn exact_scan_finds_the_query_itself_first_and_respects_keep() {
        let dims = 37; // not a multiple of the lanes: the tails count
        let data = vectors(500, dims, 7);
        let set = VectorSet::new(dims, refs(500), data.clone(), Quantize::F32);
        let query = &data[123 * dims..124 * dims];
        let top = set.top(query, 5, |_| true);
        assert_eq!(top[0].0, 123);
        assert!((top[0].1 - 1.0).abs() < 1e-5, "{top:?}");
        assert!(top.windows(2).all(|w| w[0].1 >= w[1].1));
        let top = set.top(query, 5, |i| i != 123);
        assert!(top.iter().all(|(i, _)| *i != 123) && top.len() == 5);
        assert!(set.top(&query[1..], 5, |_| true).is_empty(), "a query of the wrong size finds nothing");
    }

    #[test]
    fn int8_ranks_nearly_as_f32() {
        let dims = 256;
        let data = vectors(2000, dims, 11);
        let exact = VectorSet::new(dims, refs(2000), data.clone(), Quantize::F32);
        let small = VectorSet::new(dims, refs(2000), data.clone(), Quantize::Int8);
        assert!(small.bytes() * 3 < exact.bytes());
        let mut overlap = 0;
        for q in 0..20 {
            let query = vectors(1, dims, 100 + q);
            let a: Vec<usize> = exact.top(&query, 10, |_| true).iter().map(|x| x.0).collect();
            let b = small.top(&query, 10, |_| true);
            overlap += b.iter().filter(|x| a.contains(&x.0)).count();
            let best = exact.top(&query, 1, |_| true)[0].1;
            assert!((b[0].1 - best).abs() < 0.02, "{} vs {best}", b[0].1);
        }
        assert!(overlap >= 180, "int8 kept {overlap} of 200 top-10 places");
    }

    #[test]
    fn kernels_match_a_plain_sum() {
        let a: Vec<f32> = (0..100).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..100).map(|i| 1.0 - i as f32 * 0.01).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot_f32(&a, &b) - plain).abs() < 1e-2);
        let a: Vec<i8> = (0..77).map(|i| (i * 3 % 255 - 127) as i8).collect();
        let plain: i32 = a.iter().map(|x| i32::from(*x) * i32::from(*x)).sum();
        assert_eq!(dot_i8(&a, &a), plain);
    }
}

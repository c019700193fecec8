//! The register tiles: `R` weight rows × `V` vectors of `L` tokens, summed over a row's
//! blocks. Per group of four values one vector load of activations feeds `R` rows and one
//! broadcast weight dword feeds `V · L` tokens, so each weight byte is read once per `V · L`
//! tokens and each activation byte once per `R` rows.
//!
//! K-quants: per sub-block the integer dot products (lanes = tokens) are converted and scaled
//! by the row's f32 sub-block factor, the activations' sub-block sums times the row's min
//! factor subtracted, and per block the result scaled by the tokens' activation scales.

use super::acts::Acts;
use super::lanes::Lanes;
use super::prep::Prepped;

/// One weight type's tile over `Prepped` rows.
pub(super) trait Body: Sync {
    /// 256-bit VNNI tiles of 4 rows × 1 vector instead of 2 × 2 (AVX2's are always 4 × 2,
    /// see `task_avx2`).
    const VNNI256_TALL: bool = false;

    /// Rows `row..row + R` of the task against tiles `tile0..tile0 + V`.
    ///
    /// # Safety
    /// `S`'s target features; `row + R` within the task and `tile0 + V` within `acts`.
    unsafe fn tile<S: Lanes, const R: usize, const V: usize>(
        &self,
        row: usize,
        acts: &Acts,
        tile0: usize,
    ) -> [[S::F; V]; R];
}

/// Blocks of `GROUPS` groups of four unsigned values in `NSUB` sub-blocks, each with a scale
/// and a min: Q4_K (64 groups, `NSUB` 8 sub-blocks of 8 groups, i16 sums safe for all 8
/// groups: 8 · 2 · 15 · 128 < 2^15), Q5_K (8 sub-blocks; 4 · 2 · 31 · 128 < 2^15: 4 groups
/// at a time), Q6_K (16 sub-blocks of 4 groups; 63 · 128 · 2 · 2 < 2^15: 2 groups at a time),
/// Q3_K and Q2_K (16 sub-blocks, all 4 groups at a time), and Q4_0 and Q5_0 (8 groups, one
/// sub-block whose min is the offset 8 or 16 times the scale; against Q8_0 activations).
pub(super) struct KQuant<'a, const GROUPS: usize, const NSUB: usize, const I16_GROUPS: usize> {
    pub prep: &'a Prepped,
    pub row_blocks: usize,
}

impl<const GROUPS: usize, const NSUB: usize, const I16_GROUPS: usize> Body
    for KQuant<'_, GROUPS, NSUB, I16_GROUPS>
{
    #[inline(always)]
    unsafe fn tile<S: Lanes, const R: usize, const V: usize>(
        &self,
        row: usize,
        acts: &Acts,
        tile0: usize,
    ) -> [[S::F; V]; R] {
        if S::I16 {
            // SAFETY: the caller's.
            return unsafe { self.tile_i16::<S, R, V>(row, acts, tile0) };
        }
        let sub = GROUPS / NSUB;
        let nb = self.row_blocks;
        let bytes = rows_of::<_, R>(&self.prep.bytes, row, nb * 4 * GROUPS);
        let scale = rows_of::<_, R>(&self.prep.scale, row, nb * NSUB);
        let min = rows_of::<_, R>(&self.prep.min, row, nb * NSUB);
        // SAFETY (every pointer below): offsets stay inside the row's `nb` blocks of
        // `4 · GROUPS` bytes and `nb · NSUB` factors, and inside the tiles' blocks of `acts`.
        unsafe {
            let mut acc = [[S::zero_f(); V]; R];
            for b in 0..nb {
                let (yq, sums) = tile_block::<V>(acts, tile0, b);
                let mut accb = [[S::zero_f(); V]; R];
                for j in 0..NSUB {
                    // These lanes sum in i32 (VNNI): a sub-block's groups in one pass.
                    let s32 =
                        group_sums::<S, R, V>(bytes, b * 4 * GROUPS, yq, j * sub..(j + 1) * sub);
                    let mut sum = [S::zero_f(); V];
                    for v in 0..V {
                        sum[v] = S::load_f(sums[v].add(j * S::L));
                    }
                    for r in 0..R {
                        let sc = S::splat(*scale[r].add(b * NSUB + j));
                        let mn = S::splat(*min[r].add(b * NSUB + j));
                        for v in 0..V {
                            accb[r][v] = S::fma(S::cvt(s32[r][v]), sc, accb[r][v]);
                            accb[r][v] = S::fnma(mn, sum[v], accb[r][v]);
                        }
                    }
                }
                for v in 0..V {
                    let d = S::load_f(acts.d(tile0 + v, b));
                    for r in 0..R {
                        acc[r][v] = S::fma(accb[r][v], d, acc[r][v]);
                    }
                }
            }
            acc
        }
    }
}

impl<const GROUPS: usize, const NSUB: usize, const I16_GROUPS: usize>
    KQuant<'_, GROUPS, NSUB, I16_GROUPS>
{
    /// The tile for lanes that sum in i16 pairs (AVX2): the widening `vpmaddwd` multiplies
    /// each sub-block's pair sums by its integer scale instead of by ones, so the scaled sums
    /// add up in i32 over the whole block (Q4_K: 8 · 2 · 30,720 · 63 < 2³¹; Q5_K: 8 · 2 · 2 ·
    /// 31,744 · 63 < 2³¹; Q6_K: 16 · 2 · 2 · 32,256 · 128 < 2³¹) and are converted and scaled once per block instead of once per
    /// sub-block. The mins meet sums already scaled by the activations' `d`
    /// (`Acts::q8k(.., scaled_sums)`), straight into the accumulators, after the block's
    /// integer sums: inside the sub-block loop they kept the 8 f32 accumulators of a 4 × 2
    /// tile live beside its 16 integer ones, more than AVX2's 16 registers, and the loop
    /// spilled (`jslm bench --kernels`: Q4_K 2.30 → 2.14 ns, Q6_K 2.84 → 2.62).
    ///
    /// # Safety
    /// As for `Body::tile`.
    #[inline(always)]
    unsafe fn tile_i16<S: Lanes, const R: usize, const V: usize>(
        &self,
        row: usize,
        acts: &Acts,
        tile0: usize,
    ) -> [[S::F; V]; R] {
        let sub = GROUPS / NSUB;
        let depth = I16_GROUPS;
        let nb = self.row_blocks;
        let bytes = rows_of::<_, R>(&self.prep.bytes, row, nb * 4 * GROUPS);
        let int_scale = rows_of::<_, R>(&self.prep.int_scale, row, nb * NSUB);
        let block_d = rows_of::<_, R>(&self.prep.block_d, row, nb);
        let min = rows_of::<_, R>(&self.prep.min, row, nb * NSUB);
        // SAFETY (every pointer below): offsets stay inside the row's `nb` blocks of
        // `4 · GROUPS` bytes, `nb · NSUB` scales and `nb` factors, and inside the tiles' blocks
        // of `acts`.
        unsafe {
            let mut acc = [[S::zero_f(); V]; R];
            for b in 0..nb {
                let (yq, sums) = tile_block::<V>(acts, tile0, b);
                let mut si = [[S::zero_i(); V]; R];
                for j in 0..NSUB {
                    let mut g0 = j * sub;
                    while g0 < (j + 1) * sub {
                        let s = group_sums::<S, R, V>(bytes, b * 4 * GROUPS, yq, g0..g0 + depth);
                        for r in 0..R {
                            let sc = S::bcast(int_scale[r].add(b * NSUB + j) as *const u8);
                            for v in 0..V {
                                si[r][v] = S::add_i(si[r][v], S::madd_i16(s[r][v], sc));
                            }
                        }
                        g0 += depth;
                    }
                }
                for j in 0..NSUB {
                    for v in 0..V {
                        let sum = S::load_f(sums[v].add(j * S::L));
                        for r in 0..R {
                            let mn = S::splat(*min[r].add(b * NSUB + j));
                            acc[r][v] = S::fnma(mn, sum, acc[r][v]);
                        }
                    }
                }
                for v in 0..V {
                    let d = S::load_f(acts.d(tile0 + v, b));
                    for r in 0..R {
                        let f = S::mul(S::splat(*block_d[r].add(b)), d);
                        acc[r][v] = S::fma(S::cvt(si[r][v]), f, acc[r][v]);
                    }
                }
            }
            acc
        }
    }
}

/// Where rows `row..row + R` of a `[row][per_row]` buffer start (slicing checks each start).
#[inline(always)]
fn rows_of<T, const R: usize>(buf: &[T], row: usize, per_row: usize) -> [*const T; R] {
    let mut out = [std::ptr::null(); R];
    for (r, out) in out.iter_mut().enumerate() {
        *out = buf[(row + r) * per_row..].as_ptr();
    }
    out
}

/// K-quants: the values and the sub-block sums of block `b` of tiles `tile0..tile0 + V`.
#[inline(always)]
fn tile_block<const V: usize>(
    acts: &Acts,
    tile0: usize,
    b: usize,
) -> ([*const u8; V], [*const f32; V]) {
    let mut yq = [std::ptr::null::<u8>(); V];
    let mut sums = [std::ptr::null::<f32>(); V];
    for v in 0..V {
        yq[v] = acts.qs(tile0 + v, b);
        sums[v] = acts.sums(tile0 + v, b);
    }
    (yq, sums)
}

/// K-quants: `Σ w · y` over `groups` of the block at byte `at` of each row (four values per
/// group) for rows × tiles, in `dot4`'s sums (i16 pairs for `Lanes::I16`).
///
/// # Safety
/// `S`'s features; `bytes[r]` the row's unpacked blocks and `yq[v]` the tile's block `b` in
/// `Acts`, both holding `groups`.
#[inline(always)]
unsafe fn group_sums<S: Lanes, const R: usize, const V: usize>(
    bytes: [*const u8; R],
    at: usize,
    yq: [*const u8; V],
    groups: std::ops::Range<usize>,
) -> [[S::I; V]; R] {
    let mut s = [[S::zero_i(); V]; R];
    // SAFETY: the caller's.
    unsafe {
        for g in groups {
            let mut y = [S::zero_i(); V];
            for v in 0..V {
                y[v] = S::load(yq[v].add(g * S::L * 4));
            }
            for r in 0..R {
                let w = S::bcast(bytes[r].add(at + 4 * g));
                for v in 0..V {
                    s[r][v] = S::dot4(s[r][v], w, y[v]);
                }
            }
        }
    }
    s
}

/// Q8_0: the weights' bytes straight from the file (34-byte blocks: f16 scale, 32 values),
/// or for lanes that multiply in i16 (AVX2) widened by `Prepped::q8_0` (64 bytes per block).
pub(super) struct Q8_0<'a> {
    pub prep: &'a Prepped,
    /// The task's first block: in the file, or in `prep.bytes` for `Lanes::I16`.
    pub blocks: *const u8,
    pub row_blocks: usize,
}

// SAFETY: `blocks` points into the read-only memory map, shared by all tasks.
unsafe impl Sync for Q8_0<'_> {}

impl Body for Q8_0<'_> {
    const VNNI256_TALL: bool = true;

    #[inline(always)]
    unsafe fn tile<S: Lanes, const R: usize, const V: usize>(
        &self,
        row: usize,
        acts: &Acts,
        tile0: usize,
    ) -> [[S::F; V]; R] {
        let nb = self.row_blocks;
        // SAFETY (every pointer below): rows `row..row + R` of the task have `nb` blocks of
        // `stride` bytes each (in the map or in `prep`) and `nb` factors in `prep`; the tiles'
        // blocks are in `acts`.
        unsafe {
            let mut w = [std::ptr::null::<u8>(); R];
            let mut scale = [std::ptr::null::<f32>(); R];
            let mut min = [std::ptr::null::<f32>(); R];
            // (offset of the values in a block, bytes per block)
            let (at, stride) = if S::I16 { (0, 64) } else { (2, 34) };
            for r in 0..R {
                w[r] = self.blocks.add((row + r) * nb * stride + at);
                scale[r] = self.prep.scale[(row + r) * nb..].as_ptr();
                if !S::I16 {
                    // (`Prepped::q8_0` keeps no corrections for widened weights.)
                    min[r] = self.prep.min[(row + r) * nb..].as_ptr();
                }
            }
            // Each tile's blocks and scales are evenly spaced: pointers stepped per block.
            let mut yq = [std::ptr::null::<u8>(); V];
            let mut d = [std::ptr::null::<f32>(); V];
            for v in 0..V {
                yq[v] = acts.qs(tile0 + v, 0);
                d[v] = acts.d(tile0 + v, 0);
            }
            let (yq_step, d_step) = (acts.groups * acts.lanes * 4, acts.lanes);
            let mut acc = [[S::zero_f(); V]; R];
            for _ in 0..nb {
                let s = S::block_q8_0::<R, V>(w, yq);
                for v in 0..V {
                    let dv = S::load_f(d[v]);
                    for r in 0..R {
                        acc[r][v] = if S::I16 {
                            // Signed activations: no correction. The factor does not wait
                            // for the sums, so only the conversion and one FMA follow them.
                            S::fma(S::cvt(s[r][v]), S::mul(S::splat(*scale[r]), dv), acc[r][v])
                        } else {
                            let t =
                                S::fma(S::cvt(s[r][v]), S::splat(*scale[r]), S::splat(-*min[r]));
                            S::fma(t, dv, acc[r][v])
                        };
                    }
                }
                for r in 0..R {
                    w[r] = w[r].add(stride);
                    scale[r] = scale[r].add(1);
                    if !S::I16 {
                        min[r] = min[r].add(1);
                    }
                }
                for v in 0..V {
                    yq[v] = yq[v].add(yq_step);
                    d[v] = d[v].add(d_step);
                }
            }
            acc
        }
    }
}

//! Checkpoint formats: GPTQ packing and `quantize_config.json`, the LUT-GEMM layout.
use crate::config::{Config, GptqFormat};
use crate::error::{
    c_path, check_free, check_len, invalid, product, to_i64, Error, Result, Status,
};
use crate::quantizer::{BinarySolution, Solution};
use gptaq_sys as sys;
use std::path::Path;
use std::ptr;

/// The dtype GPTQ scales are stored in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScalesDtype {
    /// IEEE fp16 (what checkpoints hold).
    F16,
    /// bfloat16.
    Bf16,
    /// fp32.
    F32,
}

impl ScalesDtype {
    fn raw(self) -> i32 {
        (match self {
            ScalesDtype::F16 => sys::gptaq_dtype::GPTAQ_DTYPE_F16,
            ScalesDtype::Bf16 => sys::gptaq_dtype::GPTAQ_DTYPE_BF16,
            ScalesDtype::F32 => sys::gptaq_dtype::GPTAQ_DTYPE_F32,
        })
        .0 as i32
    }
}

/// Owned packed scales, in the dtype they were packed to.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalesData {
    /// fp16 bit patterns.
    F16(Vec<u16>),
    /// bf16 bit patterns.
    Bf16(Vec<u16>),
    /// fp32.
    F32(Vec<f32>),
}

impl ScalesData {
    /// Borrow as [`Scales`].
    pub fn as_scales(&self) -> Scales<'_> {
        match self {
            ScalesData::F16(v) => Scales::F16(v),
            ScalesData::Bf16(v) => Scales::Bf16(v),
            ScalesData::F32(v) => Scales::F32(v),
        }
    }
    /// The safetensors dtype name ("F16", "BF16", "F32").
    pub fn safetensors_dtype(&self) -> &'static str {
        self.as_scales().safetensors_dtype()
    }
    /// The number of scales.
    pub fn len(&self) -> usize {
        self.as_scales().len()
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Borrowed packed scales (e.g. read from a checkpoint).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scales<'a> {
    /// fp16 bit patterns.
    F16(&'a [u16]),
    /// bf16 bit patterns.
    Bf16(&'a [u16]),
    /// fp32.
    F32(&'a [f32]),
}

impl Scales<'_> {
    fn len(&self) -> usize {
        match self {
            Scales::F16(v) | Scales::Bf16(v) => v.len(),
            Scales::F32(v) => v.len(),
        }
    }
    fn parts(&self) -> (i32, *const std::ffi::c_void) {
        match self {
            Scales::F16(v) => (ScalesDtype::F16.raw(), v.as_ptr().cast()),
            Scales::Bf16(v) => (ScalesDtype::Bf16.raw(), v.as_ptr().cast()),
            Scales::F32(v) => (ScalesDtype::F32.raw(), v.as_ptr().cast()),
        }
    }
    /// The safetensors dtype name ("F16", "BF16", "F32").
    pub fn safetensors_dtype(&self) -> &'static str {
        match self {
            Scales::F16(_) => "F16",
            Scales::Bf16(_) => "BF16",
            Scales::F32(_) => "F32",
        }
    }
}

/// The packed GPTQ tensor shapes of a `rows x columns` weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptqShapes {
    /// qweight is `qweight_rows x rows` (= columns * bits / 32).
    pub qweight_rows: usize,
    /// qzeros is `n_groups x qzeros_cols` (= rows * bits / 32).
    pub qzeros_cols: usize,
    /// Quantization groups.
    pub n_groups: usize,
}

/// The packed shapes for a `rows x columns` weight with `bits` (2, 3, 4, 8) and
/// `group_size` (-1 or >= 1). `Shape` when columns * bits or rows * bits is not a
/// multiple of 32.
pub fn gptq_shapes(rows: usize, columns: usize, group_size: i32, bits: i32) -> Result<GptqShapes> {
    let (mut qw, mut qz, mut g) = (0i64, 0i64, 0i64);
    // SAFETY: valid out pointers.
    let st = unsafe {
        sys::gptaq_gptq_shapes(
            to_i64(rows, "rows")?,
            to_i64(columns, "columns")?,
            group_size,
            bits,
            &mut qw,
            &mut qz,
            &mut g,
        )
    };
    check_free(st)?;
    Ok(GptqShapes {
        qweight_rows: qw as usize,
        qzeros_cols: qz as usize,
        n_groups: g as usize,
    })
}

/// A layer in the GPTQ checkpoint layout (`P.qweight`, `P.qzeros`, `P.scales`, `P.g_idx`).
#[derive(Debug, Clone, PartialEq)]
pub struct GptqPacked {
    /// Weight rows N (out_features).
    pub rows: usize,
    /// Weight columns K (in_features).
    pub columns: usize,
    /// Bits per code.
    pub bits: i32,
    /// The zero convention.
    pub format: GptqFormat,
    /// The tensor shapes.
    pub shapes: GptqShapes,
    /// `qweight_rows x rows` int32, codes packed along K.
    pub qweight: Vec<i32>,
    /// `n_groups x qzeros_cols` int32, zeros packed along N.
    pub qzeros: Vec<i32>,
    /// `n_groups x rows` scales.
    pub scales: ScalesData,
    /// `columns` int32, the group of each input column.
    pub g_idx: Vec<i32>,
    /// With [`GptqFormat::V1`] and `allow_v1_zero_clamp`: how many zeros of 0 were
    /// stored as 0 (read back as 1); else 0.
    pub zeros_clamped: u64,
}

/// Options of [`gptq_pack`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GptqPackOptions {
    /// The zero convention; default V1 ("gptq", what loaders read by default).
    pub format: GptqFormat,
    /// The scales' dtype; default F16.
    pub scales_dtype: ScalesDtype,
    /// V1 cannot hold a zero of 0 (asymmetric grids make it): when true such zeros are
    /// stored as 0 and counted in `zeros_clamped`; when false (default) that is an
    /// `Unsupported` error and nothing is packed.
    pub allow_v1_zero_clamp: bool,
}

impl Default for GptqPackOptions {
    fn default() -> Self {
        GptqPackOptions {
            format: GptqFormat::V1,
            scales_dtype: ScalesDtype::F16,
            allow_v1_zero_clamp: false,
        }
    }
}

/// Pack the parts of a uniform solve (codes `rows x columns`, scales and zeros
/// `rows x n_groups`, g_idx `columns` or `None` for `c / group_size`) into GPTQ tensors.
/// Every length is checked (`Shape`); codes, zeros and g_idx entries are validated by the
/// library (`InvalidArgument`).
#[allow(clippy::too_many_arguments)]
pub fn gptq_pack(
    bits: i32,
    rows: usize,
    columns: usize,
    group_size: i32,
    codes: &[u8],
    scales: &[f32],
    zeros: &[f32],
    g_idx: Option<&[i32]>,
    options: GptqPackOptions,
) -> Result<GptqPacked> {
    let shapes = gptq_shapes(rows, columns, group_size, bits)?;
    let g = shapes.n_groups;
    check_len("codes", codes.len(), product("codes", &[rows, columns])?)?;
    check_len("scales", scales.len(), product("scales", &[rows, g])?)?;
    check_len("zeros", zeros.len(), product("zeros", &[rows, g])?)?;
    if let Some(gi) = g_idx {
        check_len("g_idx", gi.len(), columns)?;
    }
    let mut qweight = vec![0i32; product("qweight", &[shapes.qweight_rows, rows])?];
    let mut qzeros = vec![0i32; product("qzeros", &[g, shapes.qzeros_cols])?];
    let ns = product("scales", &[g, rows])?;
    let mut scales_out = match options.scales_dtype {
        ScalesDtype::F16 => ScalesData::F16(vec![0; ns]),
        ScalesDtype::Bf16 => ScalesData::Bf16(vec![0; ns]),
        ScalesDtype::F32 => ScalesData::F32(vec![0.0; ns]),
    };
    let sp: *mut std::ffi::c_void = match &mut scales_out {
        ScalesData::F16(v) | ScalesData::Bf16(v) => v.as_mut_ptr().cast(),
        ScalesData::F32(v) => v.as_mut_ptr().cast(),
    };
    let mut g_idx_out = vec![0i32; columns];
    let mut clamped = 0i64;
    // SAFETY: every buffer has the size gptaq_gptq_shapes gave for these arguments.
    let st = unsafe {
        sys::gptaq_gptq_pack(
            options.format.to_raw(),
            bits,
            rows as i64,
            columns as i64,
            group_size,
            codes.as_ptr(),
            scales.as_ptr(),
            zeros.as_ptr(),
            g_idx.map_or(ptr::null(), |v| v.as_ptr()),
            qweight.as_mut_ptr(),
            qzeros.as_mut_ptr(),
            options.scales_dtype.raw(),
            sp,
            g_idx_out.as_mut_ptr(),
            if options.allow_v1_zero_clamp {
                &mut clamped
            } else {
                ptr::null_mut()
            },
        )
    };
    check_free(st)?;
    Ok(GptqPacked {
        rows,
        columns,
        bits,
        format: options.format,
        shapes,
        qweight,
        qzeros,
        scales: scales_out,
        g_idx: g_idx_out,
        zeros_clamped: clamped.max(0) as u64,
    })
}

impl Solution {
    /// Pack this solution ([`gptq_pack`]) with its own `g_idx`; `bits` and `group_size`
    /// are those of the configuration that solved it.
    pub fn pack_gptq(&self, bits: i32, group_size: i32, options: GptqPackOptions) -> Result<GptqPacked> {
        gptq_pack(
            bits,
            self.rows,
            self.columns,
            group_size,
            &self.codes,
            &self.scales,
            &self.zeros,
            Some(&self.g_idx),
            options,
        )
    }
}

/// A GPTQ layer unpacked into the solver's layout.
#[derive(Debug, Clone, PartialEq)]
pub struct GptqUnpacked {
    /// rows x columns codes.
    pub codes: Vec<u8>,
    /// rows x n_groups scales.
    pub scales: Vec<f32>,
    /// rows x n_groups zeros (v1: the stored value + 1, as loaders read it).
    pub zeros: Vec<f32>,
    /// rows x columns `scale[g] * (code - zero[g])`, `g = g_idx[c]`; `None` when g_idx was
    /// not given and there is more than one group.
    pub dequant: Option<Vec<f32>>,
}

/// The tensors of one GPTQ layer as read from a checkpoint (untrusted: g_idx entries are
/// validated, `Format` when out of range).
#[derive(Debug, Clone, Copy)]
pub struct GptqTensors<'a> {
    /// `columns * bits / 32 x rows` int32.
    pub qweight: &'a [i32],
    /// `n_groups x rows * bits / 32` int32.
    pub qzeros: &'a [i32],
    /// `n_groups x rows`.
    pub scales: Scales<'a>,
    /// `columns` int32, or `None` (then no dequant unless n_groups is 1).
    pub g_idx: Option<&'a [i32]>,
}

/// Unpack GPTQ tensors of a `rows x columns` layer with `bits` and `n_groups` groups.
pub fn gptq_unpack(
    format: GptqFormat,
    bits: i32,
    rows: usize,
    columns: usize,
    n_groups: usize,
    t: &GptqTensors<'_>,
) -> Result<GptqUnpacked> {
    if n_groups == 0 {
        return Err(invalid("n_groups must be >= 1"));
    }
    // Shapes of qweight and qzeros do not depend on the group size.
    let shapes = gptq_shapes(rows, columns, -1, bits)?;
    check_len("qweight", t.qweight.len(), product("qweight", &[shapes.qweight_rows, rows])?)?;
    check_len("qzeros", t.qzeros.len(), product("qzeros", &[n_groups, shapes.qzeros_cols])?)?;
    let ng = product("scales", &[n_groups, rows])?;
    check_len("scales", t.scales.len(), ng)?;
    if let Some(gi) = t.g_idx {
        check_len("g_idx", gi.len(), columns)?;
    }
    let want_dequant = t.g_idx.is_some() || n_groups == 1;
    let n = product("codes", &[rows, columns])?;
    let mut codes = vec![0u8; n];
    let mut scales = vec![0f32; ng];
    let mut zeros = vec![0f32; ng];
    let mut dequant = if want_dequant { vec![0f32; n] } else { Vec::new() };
    let (sdt, sp) = t.scales.parts();
    // SAFETY: every input and output has the size checked above.
    let st = unsafe {
        sys::gptaq_gptq_unpack(
            format.to_raw(),
            bits,
            rows as i64,
            columns as i64,
            to_i64(n_groups, "n_groups")?,
            t.qweight.as_ptr(),
            t.qzeros.as_ptr(),
            sdt,
            sp,
            t.g_idx.map_or(ptr::null(), |v| v.as_ptr()),
            codes.as_mut_ptr(),
            scales.as_mut_ptr(),
            zeros.as_mut_ptr(),
            if want_dequant {
                dequant.as_mut_ptr()
            } else {
                ptr::null_mut()
            },
        )
    };
    check_free(st)?;
    Ok(GptqUnpacked {
        codes,
        scales,
        zeros,
        dequant: if want_dequant { Some(dequant) } else { None },
    })
}

impl GptqPacked {
    /// Unpack again ([`gptq_unpack`]).
    pub fn unpack(&self) -> Result<GptqUnpacked> {
        gptq_unpack(
            self.format,
            self.bits,
            self.rows,
            self.columns,
            self.shapes.n_groups,
            &GptqTensors {
                qweight: &self.qweight,
                qzeros: &self.qzeros,
                scales: self.scales.as_scales(),
                g_idx: Some(&self.g_idx),
            },
        )
    }
}

/// The `quantize_config.json` text for a uniform configuration (what AutoGPTQ,
/// GPTQModel, transformers and vLLM read).
pub fn gptq_quantize_config(config: &Config, format: GptqFormat) -> Result<String> {
    let raw = config.to_raw();
    let mut len = 0i64;
    // SAFETY: NULL buffer asks for the length.
    let st = unsafe {
        sys::gptaq_gptq_quantize_config(&raw, format.to_raw(), ptr::null_mut(), 0, &mut len)
    };
    check_free(st)?;
    let mut buf = vec![0u8; len.max(0) as usize + 1];
    // SAFETY: buf holds len + 1 bytes.
    let st = unsafe {
        sys::gptaq_gptq_quantize_config(
            &raw,
            format.to_raw(),
            buf.as_mut_ptr().cast(),
            buf.len() as i64,
            &mut len,
        )
    };
    check_free(st)?;
    buf.truncate(len.max(0) as usize);
    String::from_utf8(buf).map_err(|_| Error::new(Status::Internal, "quantize_config is not UTF-8"))
}

/// Write the `quantize_config.json` text to `path`.
pub fn write_gptq_quantize_config(path: impl AsRef<Path>, config: &Config, format: GptqFormat) -> Result<()> {
    let p = c_path(path.as_ref())?;
    let raw = config.to_raw();
    // SAFETY: valid path and config.
    check_free(unsafe { sys::gptaq_gptq_write_quantize_config(p.as_ptr(), &raw, format.to_raw()) })
}

/// Read a `quantize_config.json` (or a model's `config.json` with
/// "quantization_config") over the defaults: the configuration and the zero convention.
pub fn read_gptq_quantize_config(path: impl AsRef<Path>) -> Result<(Config, GptqFormat)> {
    read_gptq_quantize_config_over(path, Config::default())
}

/// As [`read_gptq_quantize_config`], over `base` (fields the file does not set keep
/// `base`'s values).
pub fn read_gptq_quantize_config_over(path: impl AsRef<Path>, base: Config) -> Result<(Config, GptqFormat)> {
    let p = c_path(path.as_ref())?;
    let mut raw = base.to_raw();
    let mut fmt = 0i32;
    // SAFETY: raw is a full config with struct_size set.
    check_free(unsafe { sys::gptaq_gptq_read_quantize_config(p.as_ptr(), &mut raw, &mut fmt) })?;
    let format = GptqFormat::from_raw(fmt)
        .ok_or_else(|| Error::new(Status::Format, format!("unknown checkpoint format {}", fmt)))?;
    Ok((Config::from_raw(&raw)?, format))
}

// ------------------------------------------------------------------------------------
// LUT-GEMM
// ------------------------------------------------------------------------------------

/// A binary-coded weight in the LUT-GEMM layout (N = rows, K = columns, k = bits,
/// G groups, W = ceil(K / 32)).
#[derive(Debug, Clone, PartialEq)]
pub struct LutGemmPacked {
    /// Bit planes k.
    pub bits: i32,
    /// N.
    pub rows: usize,
    /// K.
    pub columns: usize,
    /// Columns per group, or -1.
    pub group_size: i32,
    /// `W x k x N` uint32 words.
    pub qbits: Vec<u32>,
    /// `G x k x N` fp16 bit patterns.
    pub alpha: Vec<u16>,
    /// `G x N` fp16 bit patterns.
    pub bias: Vec<u16>,
}

/// The solver's layout of a binary-coded weight, from [`lutgemm_unpack`].
#[derive(Debug, Clone, PartialEq)]
pub struct LutGemmUnpacked {
    /// rows x columns level indices.
    pub codes: Vec<u8>,
    /// rows x G x k.
    pub alpha: Vec<f32>,
    /// rows x G.
    pub bias: Vec<f32>,
    /// rows x columns.
    pub dequant: Vec<f32>,
}

fn lut_sizes(bits: i32, rows: usize, columns: usize, group_size: i32) -> Result<(usize, usize, usize)> {
    if !(1..=8).contains(&bits) {
        return Err(invalid(format!("bits = {} is outside 1..8", bits)));
    }
    if rows == 0 || columns == 0 {
        return Err(Error::new(Status::Shape, "rows and columns must be > 0"));
    }
    let g = crate::num_groups(columns, group_size)
        .ok_or_else(|| invalid(format!("group_size = {} is not -1 or >= 1", group_size)))?;
    Ok((columns.div_ceil(32), g, bits as usize))
}

/// Pack a binary solve's parts (codes `rows x columns`, alpha `rows x G x bits`, bias
/// `rows x G`, g_idx `columns` or `None`) into the LUT-GEMM layout.
#[allow(clippy::too_many_arguments)]
pub fn lutgemm_pack(
    bits: i32,
    rows: usize,
    columns: usize,
    group_size: i32,
    codes: &[u8],
    alpha: &[f32],
    bias: &[f32],
    g_idx: Option<&[i32]>,
) -> Result<LutGemmPacked> {
    let (w, g, k) = lut_sizes(bits, rows, columns, group_size)?;
    check_len("codes", codes.len(), product("codes", &[rows, columns])?)?;
    check_len("alpha", alpha.len(), product("alpha", &[rows, g, k])?)?;
    check_len("bias", bias.len(), product("bias", &[rows, g])?)?;
    if let Some(gi) = g_idx {
        check_len("g_idx", gi.len(), columns)?;
    }
    let mut qbits = vec![0u32; product("qbits", &[w, k, rows])?];
    let mut a16 = vec![0u16; product("alpha", &[g, k, rows])?];
    let mut b16 = vec![0u16; product("bias", &[g, rows])?];
    // SAFETY: sizes as documented, checked above.
    let st = unsafe {
        sys::gptaq_lutgemm_pack(
            bits,
            to_i64(rows, "rows")?,
            to_i64(columns, "columns")?,
            group_size,
            codes.as_ptr(),
            alpha.as_ptr(),
            bias.as_ptr(),
            g_idx.map_or(ptr::null(), |v| v.as_ptr()),
            qbits.as_mut_ptr(),
            a16.as_mut_ptr(),
            b16.as_mut_ptr(),
        )
    };
    check_free(st)?;
    Ok(LutGemmPacked {
        bits,
        rows,
        columns,
        group_size,
        qbits,
        alpha: a16,
        bias: b16,
    })
}

/// Unpack LUT-GEMM arrays back into the solver's layout.
pub fn lutgemm_unpack(
    bits: i32,
    rows: usize,
    columns: usize,
    group_size: i32,
    qbits: &[u32],
    alpha_f16: &[u16],
    bias_f16: &[u16],
) -> Result<LutGemmUnpacked> {
    let (w, g, k) = lut_sizes(bits, rows, columns, group_size)?;
    check_len("qbits", qbits.len(), product("qbits", &[w, k, rows])?)?;
    check_len("alpha", alpha_f16.len(), product("alpha", &[g, k, rows])?)?;
    check_len("bias", bias_f16.len(), product("bias", &[g, rows])?)?;
    let n = product("codes", &[rows, columns])?;
    let mut out = LutGemmUnpacked {
        codes: vec![0; n],
        alpha: vec![0.0; g * k * rows],
        bias: vec![0.0; g * rows],
        dequant: vec![0.0; n],
    };
    // SAFETY: sizes as documented, checked above.
    let st = unsafe {
        sys::gptaq_lutgemm_unpack(
            bits,
            to_i64(rows, "rows")?,
            to_i64(columns, "columns")?,
            group_size,
            qbits.as_ptr(),
            alpha_f16.as_ptr(),
            bias_f16.as_ptr(),
            out.codes.as_mut_ptr(),
            out.alpha.as_mut_ptr(),
            out.bias.as_mut_ptr(),
            out.dequant.as_mut_ptr(),
        )
    };
    check_free(st)?;
    Ok(out)
}

impl LutGemmPacked {
    /// Unpack again ([`lutgemm_unpack`]).
    pub fn unpack(&self) -> Result<LutGemmUnpacked> {
        lutgemm_unpack(
            self.bits,
            self.rows,
            self.columns,
            self.group_size,
            &self.qbits,
            &self.alpha,
            &self.bias,
        )
    }
}

impl BinarySolution {
    /// Pack this solution into the LUT-GEMM layout ([`lutgemm_pack`]); `group_size` is
    /// the configuration's.
    pub fn pack_lutgemm(&self, group_size: i32) -> Result<LutGemmPacked> {
        lutgemm_pack(
            self.bits as i32,
            self.rows,
            self.columns,
            group_size,
            &self.codes,
            &self.alpha,
            &self.bias,
            Some(&self.g_idx),
        )
    }
}

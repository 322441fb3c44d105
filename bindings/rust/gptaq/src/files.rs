//! Files: safetensors (read and write), llama.cpp importance matrices, NumPy .npy.
use crate::config::ImatrixFormat;
use crate::error::{
    c_path, c_string, check_free, check_len, invalid, last_error, product, to_i64, Error,
    Result, Status,
};
use crate::quantizer::Quantizer;
use gptaq_sys as sys;
use std::ffi::CStr;
use std::os::raw::c_char;
use std::path::Path;
use std::ptr::{self, NonNull};

// ------------------------------------------------------------------------------------
// Element types
// ------------------------------------------------------------------------------------

mod sealed {
    pub trait Sealed {}
}

/// A plain numeric type whose bytes may be read from and written to files: `f32`, `f64`,
/// `u8`, `i8`, `u16` (also fp16/bf16 bit patterns), `i16`, `u32`, `i32`, `u64`, `i64`.
/// Sealed: every bit pattern of these types is a valid value.
pub trait Element: Copy + Default + sealed::Sealed + 'static {}

macro_rules! element {
    ($($t:ty),*) => { $(impl sealed::Sealed for $t {} impl Element for $t {})* };
}
element!(f32, f64, u8, i8, u16, i16, u32, i32, u64, i64);

fn as_bytes<T: Element>(v: &[T]) -> &[u8] {
    // SAFETY: Element types are plain old data without padding.
    unsafe { std::slice::from_raw_parts(v.as_ptr().cast(), std::mem::size_of_val(v)) }
}

// ------------------------------------------------------------------------------------
// safetensors
// ------------------------------------------------------------------------------------

/// A safetensors dtype.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum StDtype {
    F64,
    F32,
    F16,
    Bf16,
    I64,
    I32,
    I16,
    I8,
    U64,
    U32,
    U16,
    U8,
    Bool,
    F8E4M3,
    F8E5M2,
}

impl StDtype {
    const ALL: [StDtype; 15] = [
        StDtype::F64,
        StDtype::F32,
        StDtype::F16,
        StDtype::Bf16,
        StDtype::I64,
        StDtype::I32,
        StDtype::I16,
        StDtype::I8,
        StDtype::U64,
        StDtype::U32,
        StDtype::U16,
        StDtype::U8,
        StDtype::Bool,
        StDtype::F8E4M3,
        StDtype::F8E5M2,
    ];

    /// The format's name ("F32", "BF16", ...).
    pub fn name(self) -> &'static str {
        match self {
            StDtype::F64 => "F64",
            StDtype::F32 => "F32",
            StDtype::F16 => "F16",
            StDtype::Bf16 => "BF16",
            StDtype::I64 => "I64",
            StDtype::I32 => "I32",
            StDtype::I16 => "I16",
            StDtype::I8 => "I8",
            StDtype::U64 => "U64",
            StDtype::U32 => "U32",
            StDtype::U16 => "U16",
            StDtype::U8 => "U8",
            StDtype::Bool => "BOOL",
            StDtype::F8E4M3 => "F8_E4M3",
            StDtype::F8E5M2 => "F8_E5M2",
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StDtype::F64 | StDtype::I64 | StDtype::U64 => 8,
            StDtype::F32 | StDtype::I32 | StDtype::U32 => 4,
            StDtype::F16 | StDtype::Bf16 | StDtype::I16 | StDtype::U16 => 2,
            _ => 1,
        }
    }

    /// The dtype of a name, `None` if unknown.
    pub fn from_name(name: &str) -> Option<StDtype> {
        StDtype::ALL.iter().copied().find(|d| d.name() == name)
    }
}

/// One tensor of a safetensors file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Its name.
    pub name: String,
    /// Its dtype.
    pub dtype: StDtype,
    /// Its shape (empty for a scalar).
    pub shape: Vec<usize>,
    /// The size of its data in bytes.
    pub nbytes: usize,
}

impl TensorInfo {
    /// The number of elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
    /// Whether it has no element.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A safetensors file opened for reading. The header is validated whole on open (the
/// file is untrusted); tensor data is read on request.
pub struct SafetensorsReader {
    r: NonNull<sys::gptaq_safetensors>,
}

// SAFETY: a reader may move between threads; it is not Sync (calls take &mut self or
// read only immutable header data).
unsafe impl Send for SafetensorsReader {}

impl Drop for SafetensorsReader {
    fn drop(&mut self) {
        // SAFETY: opened by gptaq_safetensors_open, closed once.
        unsafe { sys::gptaq_safetensors_close(self.r.as_ptr()) }
    }
}

impl std::fmt::Debug for SafetensorsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SafetensorsReader").field("tensors", &self.len()).finish()
    }
}

unsafe fn copy_str(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

impl SafetensorsReader {
    /// Open and validate a file (`Io`, `Format` with a message naming the problem).
    pub fn open(path: impl AsRef<Path>) -> Result<SafetensorsReader> {
        let p = c_path(path.as_ref())?;
        let mut r = ptr::null_mut();
        // SAFETY: valid out pointer and path.
        check_free(unsafe { sys::gptaq_safetensors_open(&mut r, p.as_ptr()) })?;
        let r = NonNull::new(r).ok_or_else(|| Error::new(Status::Internal, "NULL reader"))?;
        Ok(SafetensorsReader { r })
    }

    /// The number of tensors.
    pub fn len(&self) -> usize {
        // SAFETY: live reader.
        unsafe { sys::gptaq_safetensors_count(self.r.as_ptr()) }.max(0) as usize
    }

    /// Whether the file holds no tensor.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index of the tensor called `name`.
    pub fn find(&self, name: &str) -> Option<usize> {
        let n = std::ffi::CString::new(name).ok()?;
        // SAFETY: live reader, NUL-terminated name.
        let i = unsafe { sys::gptaq_safetensors_find(self.r.as_ptr(), n.as_ptr()) };
        usize::try_from(i).ok()
    }

    fn index(&self, name: &str) -> Result<usize> {
        self.find(name)
            .ok_or_else(|| invalid(format!("no tensor called {:?} in the file", name)))
    }

    /// Describe tensor `index` (`InvalidArgument` when out of range).
    pub fn info(&self, index: usize) -> Result<TensorInfo> {
        let mut name: *const c_char = ptr::null();
        let mut dtype: *const c_char = ptr::null();
        let mut ndim = 0i32;
        let mut shape = [0i64; sys::GPTAQ_SAFETENSORS_MAX_DIMS as usize];
        let mut nbytes = 0i64;
        // SAFETY: shape holds MAX_DIMS entries; strings are copied before any other call.
        let st = unsafe {
            sys::gptaq_safetensors_tensor_info(
                self.r.as_ptr(),
                to_i64(index, "index")?,
                &mut name,
                &mut dtype,
                &mut ndim,
                shape.as_mut_ptr(),
                &mut nbytes,
            )
        };
        check_free(st)?;
        let (name, dtype) = unsafe { (copy_str(name), copy_str(dtype)) };
        let dt = StDtype::from_name(&dtype)
            .ok_or_else(|| Error::new(Status::Format, format!("unknown dtype {}", dtype)))?;
        let nd = (ndim.max(0) as usize).min(shape.len());
        Ok(TensorInfo {
            name,
            dtype: dt,
            shape: shape[..nd].iter().map(|&d| d.max(0) as usize).collect(),
            nbytes: nbytes.max(0) as usize,
        })
    }

    /// Every tensor, in file order.
    pub fn tensors(&self) -> Result<Vec<TensorInfo>> {
        (0..self.len()).map(|i| self.info(i)).collect()
    }

    /// Copy tensor `index`'s raw little-endian bytes into `dst` (at least `nbytes`).
    pub fn read_into(&mut self, index: usize, dst: &mut [u8]) -> Result<()> {
        // SAFETY: dst holds dst.len() bytes.
        check_free(unsafe {
            sys::gptaq_safetensors_read(
                self.r.as_ptr(),
                to_i64(index, "index")?,
                dst.as_mut_ptr().cast(),
                to_i64(dst.len(), "dst_bytes")?,
            )
        })
    }

    /// The raw bytes of tensor `index`.
    pub fn read_bytes(&mut self, index: usize) -> Result<Vec<u8>> {
        let info = self.info(index)?;
        let mut v = vec![0u8; info.nbytes];
        self.read_into(index, &mut v)?;
        Ok(v)
    }

    /// Tensor `name` as elements of `T`, whose size must be the dtype's (`u16` for
    /// F16/BF16, `i32` for I32, `u8` for U8/BOOL, ...): `InvalidArgument` otherwise.
    pub fn read<T: Element>(&mut self, name: &str) -> Result<(TensorInfo, Vec<T>)> {
        let i = self.index(name)?;
        let info = self.info(i)?;
        if std::mem::size_of::<T>() != info.dtype.size() {
            return Err(invalid(format!(
                "tensor {} is {} ({} bytes per element), not {}",
                name,
                info.dtype.name(),
                info.dtype.size(),
                std::any::type_name::<T>()
            )));
        }
        let mut v = vec![T::default(); info.len()];
        // SAFETY: v holds len * size_of::<T>() = nbytes bytes; any bit pattern is a T.
        let bytes = unsafe {
            std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<u8>(), std::mem::size_of_val(&v[..]))
        };
        self.read_into(i, bytes)?;
        Ok((info, v))
    }

    /// A floating-point tensor (F32, F16, BF16, F64) converted to f32 (`Unsupported` for
    /// another dtype).
    pub fn read_f32(&mut self, name: &str) -> Result<(TensorInfo, Vec<f32>)> {
        let i = self.index(name)?;
        let info = self.info(i)?;
        let mut v = vec![0f32; info.len()];
        // SAFETY: v holds len floats.
        check_free(unsafe {
            sys::gptaq_safetensors_read_f32(self.r.as_ptr(), i as i64, v.as_mut_ptr(), v.len() as i64)
        })?;
        Ok((info, v))
    }

    /// The `__metadata__` entries, sorted by key.
    pub fn metadata(&self) -> Result<Vec<(String, String)>> {
        // SAFETY: live reader.
        let n = unsafe { sys::gptaq_safetensors_metadata_count(self.r.as_ptr()) }.max(0);
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let (mut k, mut v): (*const c_char, *const c_char) = (ptr::null(), ptr::null());
            // SAFETY: i in range; strings copied at once.
            check_free(unsafe { sys::gptaq_safetensors_metadata_at(self.r.as_ptr(), i, &mut k, &mut v) })?;
            out.push(unsafe { (copy_str(k), copy_str(v)) });
        }
        Ok(out)
    }

    /// The metadata value of `key`.
    pub fn metadata_value(&self, key: &str) -> Option<String> {
        let k = std::ffi::CString::new(key).ok()?;
        // SAFETY: live reader; the value is copied at once.
        let v = unsafe { sys::gptaq_safetensors_metadata(self.r.as_ptr(), k.as_ptr()) };
        if v.is_null() {
            None
        } else {
            Some(unsafe { copy_str(v) })
        }
    }
}

/// Collects tensors and metadata, then writes a safetensors file in one go (atomically).
pub struct SafetensorsWriter {
    w: NonNull<sys::gptaq_safetensors_writer>,
}

// SAFETY: as for SafetensorsReader.
unsafe impl Send for SafetensorsWriter {}

impl Drop for SafetensorsWriter {
    fn drop(&mut self) {
        // SAFETY: created by gptaq_safetensors_writer_create, freed once.
        unsafe { sys::gptaq_safetensors_writer_free(self.w.as_ptr()) }
    }
}

impl std::fmt::Debug for SafetensorsWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SafetensorsWriter")
    }
}

impl SafetensorsWriter {
    /// An empty writer.
    pub fn new() -> Result<SafetensorsWriter> {
        let mut w = ptr::null_mut();
        // SAFETY: valid out pointer.
        check_free(unsafe { sys::gptaq_safetensors_writer_create(&mut w) })?;
        let w = NonNull::new(w).ok_or_else(|| Error::new(Status::Internal, "NULL writer"))?;
        Ok(SafetensorsWriter { w })
    }

    /// Add a tensor of `dtype` and `shape` from `data`, whose byte size must be the
    /// shape's element count times the dtype's size (`Shape` otherwise). The bytes are
    /// copied. `InvalidArgument` for an empty, duplicate or reserved name, or more than
    /// 8 dimensions.
    pub fn add<T: Element>(&mut self, name: &str, dtype: StDtype, shape: &[usize], data: &[T]) -> Result<()> {
        if shape.len() > sys::GPTAQ_SAFETENSORS_MAX_DIMS as usize {
            return Err(invalid(format!(
                "tensor {}: {} dimensions, at most {}",
                name,
                shape.len(),
                sys::GPTAQ_SAFETENSORS_MAX_DIMS
            )));
        }
        let count = product(name, shape)?;
        let bytes = product(name, &[count, dtype.size()])?;
        if std::mem::size_of_val(data) != bytes {
            return Err(Error::new(
                Status::Shape,
                format!(
                    "tensor {}: {} bytes of data for shape {:?} of {} ({} bytes)",
                    name,
                    std::mem::size_of_val(data),
                    shape,
                    dtype.name(),
                    bytes
                ),
            ));
        }
        let dims: Vec<i64> = shape.iter().map(|&d| to_i64(d, "dimension")).collect::<Result<_>>()?;
        let n = c_string("tensor name", name)?;
        let dt = c_string("dtype", dtype.name())?;
        let raw = as_bytes(data);
        // SAFETY: dims has ndim entries; data holds the shape's bytes (checked above).
        check_free(unsafe {
            sys::gptaq_safetensors_writer_add(
                self.w.as_ptr(),
                n.as_ptr(),
                dt.as_ptr(),
                dims.len() as i32,
                dims.as_ptr(),
                raw.as_ptr().cast(),
            )
        })
    }

    /// Set a `__metadata__` entry (e.g. `("format", "pt")`, which transformers expects).
    pub fn set_metadata(&mut self, key: &str, value: &str) -> Result<()> {
        let k = c_string("metadata key", key)?;
        let v = c_string("metadata value", value)?;
        // SAFETY: NUL-terminated strings.
        check_free(unsafe { sys::gptaq_safetensors_writer_set_metadata(self.w.as_ptr(), k.as_ptr(), v.as_ptr()) })
    }

    /// Write everything added so far to `path` (through a temporary file renamed into
    /// place). The writer stays usable.
    pub fn save(&mut self, path: impl AsRef<Path>) -> Result<()> {
        let p = c_path(path.as_ref())?;
        // SAFETY: NUL-terminated path.
        check_free(unsafe { sys::gptaq_safetensors_writer_save(self.w.as_ptr(), p.as_ptr()) })
    }
}

// ------------------------------------------------------------------------------------
// imatrix
// ------------------------------------------------------------------------------------

/// A llama.cpp importance-matrix collection: entries by GGUF tensor name
/// ("blk.0.attn_q.weight"), written as GGUF or legacy `.dat`.
pub struct Imatrix {
    im: NonNull<sys::gptaq_imatrix>,
}

// SAFETY: an independent handle; not Sync (mutating calls take &mut self).
unsafe impl Send for Imatrix {}

impl Drop for Imatrix {
    fn drop(&mut self) {
        // SAFETY: created by gptaq_imatrix_create, freed once.
        unsafe { sys::gptaq_imatrix_free(self.im.as_ptr()) }
    }
}

impl std::fmt::Debug for Imatrix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Imatrix")
    }
}

impl Imatrix {
    /// An empty collection (chunk size 512, no datasets).
    pub fn new() -> Result<Imatrix> {
        let mut im = ptr::null_mut();
        // SAFETY: valid out pointer.
        check_free(unsafe { sys::gptaq_imatrix_create(&mut im) })?;
        let im = NonNull::new(im).ok_or_else(|| Error::new(Status::Internal, "NULL imatrix"))?;
        Ok(Imatrix { im })
    }

    /// Add one weight's statistics: `in_sum2` is `n_mat x n_per_row` (n_mat > 1 for
    /// stacked experts), `counts` the tokens per matrix (`n_mat` values). Adding a name
    /// again sums into it.
    pub fn add(&mut self, name: &str, n_per_row: usize, in_sum2: &[f32], counts: &[f32]) -> Result<()> {
        let n_mat = counts.len();
        check_len("in_sum2", in_sum2.len(), product("in_sum2", &[n_mat, n_per_row])?)?;
        let nm = i32::try_from(n_mat).map_err(|_| invalid("too many matrices"))?;
        let n = c_string("name", name)?;
        // SAFETY: sizes checked above.
        check_free(unsafe {
            sys::gptaq_imatrix_add(
                self.im.as_ptr(),
                n.as_ptr(),
                to_i64(n_per_row, "n_per_row")?,
                nm,
                in_sum2.as_ptr(),
                counts.as_ptr(),
            )
        })
    }

    /// Add a quantizer's statistics under `name` (several names may share one quantizer).
    pub fn add_quantizer(&mut self, name: &str, q: &mut Quantizer) -> Result<()> {
        let n = c_string("name", name)?;
        // SAFETY: live handles.
        let st = unsafe { sys::gptaq_imatrix_add_ctx(self.im.as_ptr(), n.as_ptr(), q.as_raw()) };
        q.resume_panics();
        if st != 0 {
            return Err(last_error(st));
        }
        Ok(())
    }

    /// Append a dataset name (e.g. the calibration file).
    pub fn add_dataset(&mut self, dataset: &str) -> Result<()> {
        let d = c_string("dataset", dataset)?;
        // SAFETY: live handle.
        check_free(unsafe { sys::gptaq_imatrix_add_dataset(self.im.as_ptr(), d.as_ptr()) })
    }

    /// Tokens per chunk, >= 1 (llama-imatrix's n_ctx, default 512).
    pub fn set_chunk_size(&mut self, chunk_size: u32) -> Result<()> {
        let c = i32::try_from(chunk_size).map_err(|_| invalid("chunk_size is too large"))?;
        // SAFETY: live handle.
        check_free(unsafe { sys::gptaq_imatrix_set_chunk_size(self.im.as_ptr(), c) })
    }

    /// Write the collection to `path` (`InvalidArgument` when it is empty).
    pub fn save(&self, path: impl AsRef<Path>, format: ImatrixFormat) -> Result<()> {
        let p = c_path(path.as_ref())?;
        // SAFETY: live handle.
        check_free(unsafe { sys::gptaq_imatrix_save(self.im.as_ptr(), p.as_ptr(), format.to_raw()) })
    }
}

// ------------------------------------------------------------------------------------
// NumPy .npy
// ------------------------------------------------------------------------------------

/// The element types of .npy files the library reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NpyDtype {
    /// `<f4`
    F32,
    /// `<f2` (as u16 bit patterns)
    F16,
    /// `|u1`
    U8,
    /// `<i4`
    I32,
}

impl NpyDtype {
    fn raw(self) -> i32 {
        (match self {
            NpyDtype::F32 => sys::gptaq_dtype::GPTAQ_DTYPE_F32,
            NpyDtype::F16 => sys::gptaq_dtype::GPTAQ_DTYPE_F16,
            NpyDtype::U8 => sys::gptaq_dtype::GPTAQ_DTYPE_U8,
            NpyDtype::I32 => sys::gptaq_dtype::GPTAQ_DTYPE_I32,
        })
        .0 as i32
    }
    fn from_raw(v: i32) -> Option<NpyDtype> {
        [NpyDtype::F32, NpyDtype::F16, NpyDtype::U8, NpyDtype::I32]
            .into_iter()
            .find(|d| d.raw() == v)
    }
}

/// A Rust type stored in .npy files: `f32`, `u16` (fp16), `u8`, `i32`.
pub trait NpyElement: Element {
    /// The file dtype.
    const DTYPE: NpyDtype;
}
impl NpyElement for f32 {
    const DTYPE: NpyDtype = NpyDtype::F32;
}
impl NpyElement for u16 {
    const DTYPE: NpyDtype = NpyDtype::F16;
}
impl NpyElement for u8 {
    const DTYPE: NpyDtype = NpyDtype::U8;
}
impl NpyElement for i32 {
    const DTYPE: NpyDtype = NpyDtype::I32;
}

/// A streaming reader of a 2-D (or 1-D, seen as 1 x n) C-order .npy file.
pub struct NpyReader {
    r: NonNull<sys::gptaq_npy_reader>,
    dtype: NpyDtype,
    rows: usize,
    cols: usize,
}

// SAFETY: an independent handle; reads take &mut self.
unsafe impl Send for NpyReader {}

impl Drop for NpyReader {
    fn drop(&mut self) {
        // SAFETY: opened by gptaq_npy_open, closed once.
        unsafe { sys::gptaq_npy_close(self.r.as_ptr()) }
    }
}

impl std::fmt::Debug for NpyReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NpyReader")
            .field("dtype", &self.dtype)
            .field("rows", &self.rows)
            .field("cols", &self.cols)
            .finish()
    }
}

impl NpyReader {
    /// Open a file (`Io`, `Format` for an unsupported dtype, rank or order).
    pub fn open(path: impl AsRef<Path>) -> Result<NpyReader> {
        let p = c_path(path.as_ref())?;
        let mut r = ptr::null_mut();
        // SAFETY: valid out pointer and path.
        check_free(unsafe { sys::gptaq_npy_open(&mut r, p.as_ptr()) })?;
        let r = NonNull::new(r).ok_or_else(|| Error::new(Status::Internal, "NULL reader"))?;
        let (mut dt, mut rows, mut cols) = (0i32, 0i64, 0i64);
        // SAFETY: live reader.
        let st = unsafe { sys::gptaq_npy_info(r.as_ptr(), &mut dt, &mut rows, &mut cols) };
        let mut reader = NpyReader {
            r,
            dtype: NpyDtype::F32,
            rows: rows.max(0) as usize,
            cols: cols.max(0) as usize,
        };
        check_free(st)?;
        reader.dtype = NpyDtype::from_raw(dt)
            .ok_or_else(|| Error::new(Status::Format, format!("unknown npy dtype {}", dt)))?;
        Ok(reader)
    }

    /// The file's dtype.
    pub fn dtype(&self) -> NpyDtype {
        self.dtype
    }
    /// Rows (1 for a 1-D array).
    pub fn rows(&self) -> usize {
        self.rows
    }
    /// Columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Read the next up-to `max_rows` rows (empty at the end); `T` must match the file's
    /// dtype (`InvalidArgument` otherwise).
    pub fn read_rows<T: NpyElement>(&mut self, max_rows: usize) -> Result<Vec<T>> {
        if T::DTYPE != self.dtype {
            return Err(invalid(format!(
                "the file holds {:?}, not {:?} ({})",
                self.dtype,
                T::DTYPE,
                std::any::type_name::<T>()
            )));
        }
        let max_rows = max_rows.min(self.rows); // never more than the file holds
        let mut v = vec![T::default(); product("rows", &[max_rows, self.cols])?];
        let mut got = 0i64;
        // SAFETY: v holds max_rows * cols elements of the file's dtype.
        check_free(unsafe {
            sys::gptaq_npy_read_rows(self.r.as_ptr(), v.as_mut_ptr().cast(), to_i64(max_rows, "max_rows")?, &mut got)
        })?;
        v.truncate(got.max(0) as usize * self.cols);
        Ok(v)
    }

    /// Read every remaining row.
    pub fn read_all<T: NpyElement>(&mut self) -> Result<Vec<T>> {
        self.read_rows(self.rows)
    }
}

/// Read a whole 2-D (or 1-D) .npy file: (rows, cols, data).
pub fn npy_read<T: NpyElement>(path: impl AsRef<Path>) -> Result<(usize, usize, Vec<T>)> {
    let mut r = NpyReader::open(path)?;
    let v = r.read_all()?;
    Ok((r.rows, r.cols, v))
}

/// Write an N-D C-order .npy file of `shape` (1..8 dimensions) from `data`.
pub fn npy_write<T: NpyElement>(path: impl AsRef<Path>, shape: &[usize], data: &[T]) -> Result<()> {
    if shape.is_empty() || shape.len() > 8 {
        return Err(invalid(format!("{} dimensions: 1..8 are supported", shape.len())));
    }
    check_len("data", data.len(), product("npy", shape)?)?;
    let p = c_path(path.as_ref())?;
    let dims: Vec<i64> = shape.iter().map(|&d| to_i64(d, "dimension")).collect::<Result<_>>()?;
    // SAFETY: data holds the shape's element count.
    check_free(unsafe {
        sys::gptaq_npy_write_nd(p.as_ptr(), T::DTYPE.raw(), dims.len() as i32, dims.as_ptr(), data.as_ptr().cast())
    })
}

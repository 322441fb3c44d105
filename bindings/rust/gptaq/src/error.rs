//! Errors: the library status and message.
use gptaq_sys as sys;
use std::ffi::CStr;
use std::fmt;
use std::os::raw::c_char;

// ------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------

/// A library status other than success. The numeric values are those of `gptaq_status`
/// and never change; [`Status::Other`] keeps codes a newer library may add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// NULL pointer, value out of range, bad enum value, wrong quantizer kind.
    InvalidArgument,
    /// A size does not match the context, or overflows.
    Shape,
    /// NaN or Inf in an input; nothing was changed.
    NonFinite,
    /// Solve before any calibration batch.
    NoData,
    /// The Hessian is still indefinite after the damping retries.
    NotPositiveDefinite,
    /// An allocation failed.
    OutOfMemory,
    /// The backend is not compiled in, or no device answers.
    BackendUnavailable,
    /// A CUDA / cuBLAS / cuSOLVER call failed.
    Device,
    /// A file could not be opened, read or written.
    Io,
    /// A file or buffer is malformed.
    Format,
    /// A valid request this build or method cannot do.
    Unsupported,
    /// The context is in use by another thread.
    Busy,
    /// A bug in the library.
    Internal,
    /// The progress callback asked to stop; the quantizer is exactly as before the call.
    Cancelled,
    /// A status this binding does not know (from a newer library).
    Other(i32),
}

impl Status {
    /// Map a C status code (`< 0`) to a `Status`. `0` (success) maps to `Other(0)`.
    pub fn from_code(code: i32) -> Status {
        use sys::gptaq_status as S;
        match code {
            c if c == S::GPTAQ_ERR_INVALID_ARGUMENT.0 => Status::InvalidArgument,
            c if c == S::GPTAQ_ERR_SHAPE.0 => Status::Shape,
            c if c == S::GPTAQ_ERR_NON_FINITE.0 => Status::NonFinite,
            c if c == S::GPTAQ_ERR_NO_DATA.0 => Status::NoData,
            c if c == S::GPTAQ_ERR_NOT_POSITIVE_DEFINITE.0 => Status::NotPositiveDefinite,
            c if c == S::GPTAQ_ERR_OUT_OF_MEMORY.0 => Status::OutOfMemory,
            c if c == S::GPTAQ_ERR_BACKEND_UNAVAILABLE.0 => Status::BackendUnavailable,
            c if c == S::GPTAQ_ERR_DEVICE.0 => Status::Device,
            c if c == S::GPTAQ_ERR_IO.0 => Status::Io,
            c if c == S::GPTAQ_ERR_FORMAT.0 => Status::Format,
            c if c == S::GPTAQ_ERR_UNSUPPORTED.0 => Status::Unsupported,
            c if c == S::GPTAQ_ERR_BUSY.0 => Status::Busy,
            c if c == S::GPTAQ_ERR_INTERNAL.0 => Status::Internal,
            c if c == S::GPTAQ_ERR_CANCELLED.0 => Status::Cancelled,
            c => Status::Other(c),
        }
    }

    /// The C status code (`gptaq_status`).
    pub fn code(self) -> i32 {
        use sys::gptaq_status as S;
        match self {
            Status::InvalidArgument => S::GPTAQ_ERR_INVALID_ARGUMENT.0,
            Status::Shape => S::GPTAQ_ERR_SHAPE.0,
            Status::NonFinite => S::GPTAQ_ERR_NON_FINITE.0,
            Status::NoData => S::GPTAQ_ERR_NO_DATA.0,
            Status::NotPositiveDefinite => S::GPTAQ_ERR_NOT_POSITIVE_DEFINITE.0,
            Status::OutOfMemory => S::GPTAQ_ERR_OUT_OF_MEMORY.0,
            Status::BackendUnavailable => S::GPTAQ_ERR_BACKEND_UNAVAILABLE.0,
            Status::Device => S::GPTAQ_ERR_DEVICE.0,
            Status::Io => S::GPTAQ_ERR_IO.0,
            Status::Format => S::GPTAQ_ERR_FORMAT.0,
            Status::Unsupported => S::GPTAQ_ERR_UNSUPPORTED.0,
            Status::Busy => S::GPTAQ_ERR_BUSY.0,
            Status::Internal => S::GPTAQ_ERR_INTERNAL.0,
            Status::Cancelled => S::GPTAQ_ERR_CANCELLED.0,
            Status::Other(c) => c,
        }
    }

    /// The library's English name of the status, e.g. `"invalid argument"`.
    pub fn name(self) -> &'static str {
        // SAFETY: gptaq_status_string returns a static, NUL-terminated string, never NULL.
        unsafe { static_str(sys::gptaq_status_string(self.code())) }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error from the library (or from this binding's own argument checks): a [`Status`]
/// and the message the library left on the context, copied at the time of the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    /// Build an error from a status and a message.
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }
    /// What kind of failure this is.
    pub fn status(&self) -> Status {
        self.status
    }
    /// The C status code (`gptaq_status`, negative).
    pub fn code(&self) -> i32 {
        self.status.code()
    }
    /// The library's message (never empty).
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gptaq: {} ({}): {}",
            self.status.name(),
            self.status.code(),
            self.message
        )
    }
}

impl std::error::Error for Error {}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

/// SAFETY: `p` must be NULL or a NUL-terminated string that lives for 'static.
pub(crate) unsafe fn static_str(p: *const c_char) -> &'static str {
    if p.is_null() {
        ""
    } else {
        CStr::from_ptr(p).to_str().unwrap_or("")
    }
}

/// SAFETY: `p` must be NULL or a NUL-terminated string valid for the call.
pub(crate) unsafe fn owned_str(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

pub(crate) fn error_with(code: i32, message: String) -> Error {
    let status = Status::from_code(code);
    let message = if message.is_empty() {
        status.name().to_string()
    } else {
        message
    };
    Error { status, message }
}

pub(crate) fn shape_error(message: String) -> Error {
    Error::new(Status::Shape, message)
}

pub(crate) fn to_i64(n: usize, what: &str) -> Result<i64> {
    i64::try_from(n).map_err(|_| shape_error(format!("{} = {} does not fit in int64", what, n)))
}


pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::new(Status::InvalidArgument, message)
}

/// The error of a failed call without a context: the status and the thread-local message
/// (read on the calling thread right after the call).
pub(crate) fn last_error(code: i32) -> Error {
    // SAFETY: gptaq_last_errmsg never returns NULL; the string is copied at once.
    let msg = unsafe { owned_str(sys::gptaq_last_errmsg()) };
    error_with(code, msg)
}

/// Ok for 0, else the error with the thread-local message.
pub(crate) fn check_free(code: i32) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(last_error(code))
    }
}

/// A path as a C string (an interior NUL byte is an InvalidArgument error).
pub(crate) fn c_path(path: &std::path::Path) -> Result<std::ffi::CString> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| invalid(format!("path {:?} contains a NUL byte", path)))
}

/// A string as a C string (an interior NUL byte is an InvalidArgument error).
pub(crate) fn c_string(what: &str, s: &str) -> Result<std::ffi::CString> {
    std::ffi::CString::new(s).map_err(|_| invalid(format!("{} {:?} contains a NUL byte", what, s)))
}

/// n1 * n2 * ... as usize, or a Shape error naming `what`.
pub(crate) fn product(what: &str, dims: &[usize]) -> Result<usize> {
    dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| {
        shape_error(format!("{}: the size {:?} overflows", what, dims))
    })
}

/// A Shape error unless `len == expected`.
pub(crate) fn check_len(what: &str, len: usize, expected: usize) -> Result<()> {
    if len == expected {
        Ok(())
    } else {
        Err(shape_error(format!(
            "{} has {} elements, expected {}",
            what, len, expected
        )))
    }
}

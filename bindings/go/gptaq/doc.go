// Package gptaq is the Go API of libgptaq: Hessian-based post-training quantization of
// linear-layer weights (RTN, GPTQ, GPTAQ and the GPTQT binary coding) from streamed
// calibration activations, and the checkpoint formats around it.
//
// A Quantizer owns one library context for one input width (columns, the layer's
// in_features). Stream calibration batches into it with AddBatch (only columns x columns
// statistics are kept, whatever the number of tokens), then quantize any number of
// weights that read that input with Solve (uniform GPTQ grid) or SolveBinary (GPTQT).
// Matrices are row-major []float32: a batch is tokens x columns, a weight rows x
// columns (out_features x in_features). Half-precision batches are []uint16 bit
// patterns (AddBatchHalf). Statistics move between workers as bytes (Serialize,
// Deserialize, Merge) or in place (WithStatsBuffers); results become GPTQ checkpoints
// (PackGPTQ, safetensors, quantize_config.json), LUT-GEMM layouts or llama.cpp
// importance matrices.
//
// Errors are *Error values carrying the library's Status and message; errors.Is(err,
// gptaq.ErrNoData) tests the kind. A failed call leaves the Quantizer usable with its
// statistics unchanged. Long calls take a context.Context (SolveContext, ...): a done
// context cancels the call with an error that is both ErrCancelled and ctx.Err().
//
// Concurrency: one Quantizer runs one call at a time; a concurrent call fails at once
// with ErrBusy (it does not wait), as in the C library and the other bindings.
//
// Linking: the package links with `#cgo pkg-config: gptaq`; put the library's
// pkgconfig directory on PKG_CONFIG_PATH, and add -Wl,-rpath,<libdir> to CGO_LDFLAGS
// when the library is not on the loader's path (see the module's README.md).
package gptaq

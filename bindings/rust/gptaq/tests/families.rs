//! One test (or a few) per API family beyond the quantize loop: statistics exchange,
//! GPTQ checkpoints, safetensors, imatrix, LUT-GEMM, npy, the library queries; each with
//! its bad inputs (a clear error, and nothing changed).
mod common;

use common::*;
use gptaq::*;

fn cpu(group_size: i32) -> Config {
    Config {
        backend: Backend::Cpu,
        group_size,
        ..Config::default()
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("gptaq-rust-{}-{}", name, std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn expect<T: std::fmt::Debug>(r: Result<T>, status: Status, what: &str) -> Error {
    let e = r.expect_err(what);
    assert_eq!(e.status(), status, "{}: {}", what, e);
    assert!(!e.message().is_empty(), "{}: empty message", what);
    e
}

const COLS: usize = 64;
const ROWS: usize = 32;

fn data(seed: u64) -> (Vec<f32>, Vec<f32>) {
    let mut r = Rng(seed);
    let x = activations(&mut r, 256, COLS);
    let w = r.fill(ROWS * COLS, 0.2);
    (x, w)
}

#[test]
fn statistics_exchange() {
    let (x, w) = data(1);
    let half = x.len() / 2;
    let mut all = Quantizer::new(COLS, cpu(32)).unwrap();
    all.add_batch(&x, None).unwrap();
    let mut a = Quantizer::new(COLS, cpu(32)).unwrap();
    let mut b = Quantizer::new(COLS, cpu(32)).unwrap();
    a.add_batch(&x[..half], None).unwrap();
    b.add_batch(&x[half..], None).unwrap();

    // serialize / deserialize (accumulate) == one worker on all the data
    let bytes = b.serialize_stats().unwrap();
    assert_eq!(bytes.len(), b.stats_serialized_size().unwrap());
    assert_eq!(bytes.len(), 64 + 4 * COLS * COLS + 8 * COLS);
    let mut m = Quantizer::new(COLS, cpu(32)).unwrap();
    m.deserialize_stats(&a.serialize_stats().unwrap(), StatsMode::Replace).unwrap();
    m.deserialize_stats(&bytes, StatsMode::Accumulate).unwrap();
    assert_eq!(m.num_tokens(), 256);
    let ref_sol = all.solve(&w, ROWS).unwrap();
    assert_eq!(m.solve(&w, ROWS).unwrap().codes, ref_sol.codes);

    // merge
    let mut m2 = Quantizer::new(COLS, cpu(32)).unwrap();
    m2.merge_stats(&a).unwrap();
    m2.merge_stats(&b).unwrap();
    assert_eq!(m2.solve(&w, ROWS).unwrap().codes, ref_sol.codes);

    // save / file info / load / from_stats_file
    let d = tmpdir("stats");
    let f = d.join("a.gptaqstats");
    all.save_stats(&f).unwrap();
    let info = stats_file_info(&f).unwrap();
    assert_eq!((info.columns, info.method, info.has_cross, info.tokens), (COLS, Some(Method::Gptq), false, 256.0));
    let mut l = Quantizer::new(COLS, cpu(32)).unwrap();
    l.load_stats(&f, StatsMode::Replace).unwrap();
    assert_eq!(l.solve(&w, ROWS).unwrap().codes, ref_sol.codes);
    let mut l2 = Quantizer::from_stats_file(&f, cpu(32)).unwrap();
    assert_eq!(l2.solve(&w, ROWS).unwrap().codes, ref_sol.codes);

    // bad inputs: the quantizer is unchanged afterwards
    let before = m.serialize_stats().unwrap();
    let mut bad = bytes.clone();
    bad[100] ^= 0xff; // payload checksum
    expect(m.deserialize_stats(&bad, StatsMode::Accumulate), Status::Format, "corrupt bytes");
    expect(m.deserialize_stats(&bytes[..10], StatsMode::Replace), Status::Format, "truncated");
    expect(m.deserialize_stats(&[], StatsMode::Replace), Status::Format, "empty");
    let mut other = Quantizer::new(COLS + 1, cpu(32)).unwrap();
    expect(m.merge_stats(&other), Status::Shape, "merge of another width");
    expect(other.deserialize_stats(&bytes, StatsMode::Replace), Status::Shape, "bytes of another width");
    let gptaq = Quantizer::new(COLS, Config { method: Method::Gptaq, ..cpu(32) }).unwrap();
    expect(m.merge_stats(&gptaq), Status::InvalidArgument, "merge of another method family");
    expect(m.load_stats(d.join("missing"), StatsMode::Replace), Status::Io, "missing file");
    expect(stats_file_info(d.join("missing")), Status::Io, "info of a missing file");
    expect(m.load_stats("a\0b", StatsMode::Replace), Status::InvalidArgument, "NUL in the path");
    let mut small = vec![0u8; 10];
    expect(m.serialize_stats_into(&mut small), Status::Shape, "too small a buffer");
    assert_eq!(m.serialize_stats().unwrap(), before, "a failed call changed the statistics");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn statistics_buffers() {
    let (x, w) = data(2);
    let mut one = Quantizer::new(COLS, cpu(-1)).unwrap();
    one.add_batch(&x, None).unwrap();
    one.add_batch(&x, None).unwrap();
    let mut q = Quantizer::new(COLS, cpu(-1)).unwrap();
    q.add_batch(&x, None).unwrap();
    {
        // an in-place "all-reduce" of two identical workers: every sum doubles
        let mut b = q.stats_buffers().unwrap();
        assert_eq!(b.backend(), Backend::Cpu);
        assert!(!b.has_cross());
        let h = b.host().unwrap();
        assert_eq!(h.xx.len(), COLS * COLS);
        assert!(h.dx.is_none());
        assert_eq!(*h.tokens, 256.0);
        h.xx.iter_mut().for_each(|v| *v *= 2.0);
        h.xsum.iter_mut().for_each(|v| *v *= 2.0);
        *h.tokens *= 2.0;
        b.commit().unwrap();
    }
    assert_eq!(q.num_tokens(), 512);
    assert_eq!(q.solve(&w, ROWS).unwrap().codes, one.solve(&w, ROWS).unwrap().codes);

    // a NaN written through the buffers is refused by commit
    let mut b = q.stats_buffers().unwrap();
    b.host().unwrap().xx[3 * COLS] = f32::NAN; // lower triangle (the upper one is mirrored from it)
    expect(b.commit(), Status::NonFinite, "NaN committed");
    q.reset().unwrap();
    assert_eq!(q.num_tokens(), 0);

    // GPTAQ keeps dx
    let mut g = Quantizer::new(COLS, Config { method: Method::Gptaq, ..cpu(-1) }).unwrap();
    let xfp = perturb(&mut Rng(3), &x, 0.01);
    g.add_batch(&x, Some(&xfp)).unwrap();
    let mut b = g.stats_buffers().unwrap();
    assert!(b.has_cross());
    assert_eq!(b.host().unwrap().dx.map(|d| d.len()), Some(COLS * COLS));
}

#[test]
fn gptq_checkpoint_family() {
    let (x, w) = data(4);
    for (sym, format) in [(true, GptqFormat::V1), (false, GptqFormat::V2)] {
        let cfg = Config { sym, act_order: true, ..cpu(32) };
        let mut q = Quantizer::new(COLS, cfg).unwrap();
        q.add_batch(&x, None).unwrap();
        let sol = q.solve(&w, ROWS).unwrap();
        let opts = GptqPackOptions { format, ..GptqPackOptions::default() };
        let p = sol.pack_gptq(4, 32, opts).unwrap();
        let shapes = gptq_shapes(ROWS, COLS, 32, 4).unwrap();
        assert_eq!(p.shapes, shapes);
        assert_eq!(shapes, GptqShapes { qweight_rows: COLS * 4 / 32, qzeros_cols: ROWS * 4 / 32, n_groups: 2 });
        assert_eq!(p.qweight.len(), shapes.qweight_rows * ROWS);
        assert_eq!(p.g_idx, sol.g_idx);
        let u = p.unpack().unwrap();
        assert_eq!(u.codes, sol.codes);
        assert_eq!(u.zeros, sol.zeros);
        let dq = u.dequant.unwrap();
        for (i, (a, b)) in dq.iter().zip(&sol.dequant).enumerate() {
            let s = sol.scales[(i / COLS) * 2 + sol.g_idx[i % COLS] as usize];
            assert!((a - b).abs() <= s.abs() * 16.0 * 1e-3 + 1e-7, "dequant {} {} vs {}", i, a, b);
        }
        // fp32 scales: exact
        let p32 = sol
            .pack_gptq(4, 32, GptqPackOptions { format, scales_dtype: ScalesDtype::F32, ..Default::default() })
            .unwrap();
        assert_eq!(p32.unpack().unwrap().dequant.unwrap(), sol.dequant);

        // quantize_config.json round trip
        let d = tmpdir("qcfg");
        let f = d.join("quantize_config.json");
        write_gptq_quantize_config(&f, &cfg, format).unwrap();
        let text = gptq_quantize_config(&cfg, format).unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap().trim_end(), text.trim_end());
        assert!(text.contains("\"bits\""));
        let (back, fmt) = read_gptq_quantize_config(&f).unwrap();
        assert_eq!(fmt, format);
        assert_eq!((back.bits, back.group_size, back.sym, back.act_order), (4, 32, sym, true));
        std::fs::remove_dir_all(&d).unwrap();
    }

    // bad inputs
    let (codes, scales, zeros) = (vec![0u8; ROWS * COLS], vec![1f32; ROWS * 2], vec![8f32; ROWS * 2]);
    let o = GptqPackOptions::default();
    expect(gptq_pack(4, ROWS, COLS, 32, &codes[1..], &scales, &zeros, None, o), Status::Shape, "short codes");
    expect(gptq_pack(4, ROWS, COLS, 32, &codes, &scales[1..], &zeros, None, o), Status::Shape, "short scales");
    expect(gptq_pack(4, ROWS, COLS, 32, &codes, &scales, &zeros, Some(&[0; 3]), o), Status::Shape, "short g_idx");
    expect(gptq_pack(5, ROWS, COLS, 32, &codes, &scales, &zeros, None, o), Status::InvalidArgument, "5 bits");
    expect(gptq_pack(4, ROWS, COLS, 0, &codes, &scales, &zeros, None, o), Status::InvalidArgument, "group 0");
    let mut big = codes.clone();
    big[7] = 16;
    expect(gptq_pack(4, ROWS, COLS, 32, &big, &scales, &zeros, None, o), Status::InvalidArgument, "code 16");
    let zero0 = vec![0f32; ROWS * 2];
    expect(gptq_pack(4, ROWS, COLS, 32, &codes, &scales, &zero0, None, o), Status::Unsupported, "v1 zero 0");
    let p = gptq_pack(4, ROWS, COLS, 32, &codes, &scales, &zero0, None, GptqPackOptions { allow_v1_zero_clamp: true, ..o }).unwrap();
    assert_eq!(p.zeros_clamped, (ROWS * 2) as u64);
    expect(gptq_shapes(ROWS, 33, 32, 4), Status::Shape, "columns * bits not a multiple of 32");
    let t = GptqTensors { qweight: &p.qweight, qzeros: &p.qzeros, scales: p.scales.as_scales(), g_idx: Some(&p.g_idx) };
    expect(gptq_unpack(GptqFormat::V1, 4, ROWS, COLS, 0, &t), Status::InvalidArgument, "0 groups");
    expect(gptq_unpack(GptqFormat::V1, 4, ROWS, COLS, 3, &t), Status::Shape, "qzeros of 2 groups as 3");
    let bad_g = vec![5i32; COLS];
    let t2 = GptqTensors { g_idx: Some(&bad_g), ..t };
    expect(gptq_unpack(GptqFormat::V1, 4, ROWS, COLS, 2, &t2), Status::Format, "g_idx out of range");
    let t3 = GptqTensors { g_idx: None, ..t };
    assert!(gptq_unpack(GptqFormat::V1, 4, ROWS, COLS, 2, &t3).unwrap().dequant.is_none());
    expect(read_gptq_quantize_config("/nonexistent/quantize_config.json"), Status::Io, "missing config");
    expect(
        gptq_quantize_config(&Config { bits: 5, ..Config::default() }, GptqFormat::V1),
        Status::InvalidArgument,
        "5-bit config",
    );
}

#[test]
fn safetensors_family() {
    let d = tmpdir("st");
    let f = d.join("m.safetensors");
    let a: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
    let b: Vec<i32> = vec![-1, 2, -3];
    let h = f32_to_half(HalfType::F16, &a);
    let mut w = SafetensorsWriter::new().unwrap();
    w.add("a", StDtype::F32, &[3, 4], &a).unwrap();
    w.add("b", StDtype::I32, &[3], &b).unwrap();
    w.add("h", StDtype::F16, &[2, 2, 3], &h).unwrap();
    w.add("s", StDtype::U8, &[], &[7u8]).unwrap();
    w.set_metadata("format", "pt").unwrap();
    w.save(&f).unwrap();
    // bad inputs to the writer
    expect(w.add("a", StDtype::F32, &[3, 4], &a), Status::InvalidArgument, "duplicate name");
    expect(w.add("c", StDtype::F32, &[5], &a), Status::Shape, "data of another size");
    expect(w.add("c", StDtype::F16, &[12], &a), Status::Shape, "f32 data for F16");
    expect(w.add("", StDtype::F32, &[12], &a), Status::InvalidArgument, "empty name");
    expect(w.add("__metadata__", StDtype::F32, &[12], &a), Status::InvalidArgument, "reserved name");
    expect(w.add("c\0d", StDtype::F32, &[12], &a), Status::InvalidArgument, "NUL in a name");
    expect(w.add("c", StDtype::U8, &[1; 9], &[0u8]), Status::InvalidArgument, "9 dimensions");
    expect(w.set_metadata("", "x"), Status::InvalidArgument, "empty key");

    let mut r = SafetensorsReader::open(&f).unwrap();
    assert_eq!(r.len(), 4);
    let names: Vec<String> = r.tensors().unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["a", "b", "h", "s"]);
    let (info, got) = r.read::<f32>("a").unwrap();
    assert_eq!((info.dtype, info.shape.clone(), info.nbytes), (StDtype::F32, vec![3, 4], 48));
    assert_eq!(got, a);
    assert_eq!(r.read::<i32>("b").unwrap().1, b);
    assert_eq!(r.read::<u16>("h").unwrap().1, h);
    assert_eq!(r.read_f32("h").unwrap().1, a); // multiples of 0.5 are exact in fp16
    let (si, sv) = r.read::<u8>("s").unwrap();
    assert!(si.shape.is_empty());
    assert_eq!(sv, [7]);
    assert_eq!(r.metadata().unwrap(), [("format".to_string(), "pt".to_string())]);
    assert_eq!(r.metadata_value("format").as_deref(), Some("pt"));
    assert_eq!(r.metadata_value("nope"), None);
    assert_eq!(r.find("nope"), None);
    assert_eq!(r.read_bytes(r.find("b").unwrap()).unwrap().len(), 12);
    // bad inputs to the reader
    expect(r.read::<f32>("b\0"), Status::InvalidArgument, "NUL in a name");
    expect(r.read::<u16>("a"), Status::InvalidArgument, "u16 for F32");
    expect(r.read_f32("b"), Status::Unsupported, "I32 as f32");
    expect(r.read::<f32>("zz"), Status::InvalidArgument, "missing tensor");
    expect(r.info(9), Status::InvalidArgument, "index out of range");
    let mut small = [0u8; 4];
    expect(r.read_into(0, &mut small), Status::InvalidArgument, "too small a destination");
    std::fs::write(d.join("bad.safetensors"), b"\x10\0\0\0\0\0\0\0{not json}").unwrap();
    expect(SafetensorsReader::open(d.join("bad.safetensors")), Status::Format, "malformed file");
    expect(SafetensorsReader::open(d.join("missing")), Status::Io, "missing file");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn imatrix_family() {
    let (x, _) = data(5);
    let mut q = Quantizer::new(COLS, cpu(-1)).unwrap();
    q.add_batch(&x, None).unwrap();
    let (v, tokens) = q.imatrix().unwrap();
    assert_eq!(tokens, 256);
    let direct: f64 = (0..256).map(|t| (x[t * COLS] as f64).powi(2)).sum();
    assert!((v[0] as f64 - direct).abs() <= 1e-3 * direct);

    let d = tmpdir("imatrix");
    let mut im = Imatrix::new().unwrap();
    expect(im.save(d.join("empty.gguf"), ImatrixFormat::Gguf), Status::InvalidArgument, "empty collection");
    im.add_quantizer("blk.0.attn_q.weight", &mut q).unwrap();
    im.add_quantizer("blk.0.attn_k.weight", &mut q).unwrap();
    im.add("blk.0.ffn_down.weight", 4, &[1.0; 8], &[10.0, 20.0]).unwrap();
    im.add_dataset("calib.txt").unwrap();
    im.set_chunk_size(128).unwrap();
    im.save(d.join("m.gguf"), ImatrixFormat::Gguf).unwrap();
    im.save(d.join("m.dat"), ImatrixFormat::Dat).unwrap();
    let gguf = std::fs::read(d.join("m.gguf")).unwrap();
    assert_eq!(&gguf[..4], b"GGUF");
    assert!(std::fs::metadata(d.join("m.dat")).unwrap().len() > (COLS * 4) as u64);
    // bad inputs
    expect(im.add("x", 4, &[1.0; 7], &[1.0, 1.0]), Status::Shape, "in_sum2 of another size");
    expect(im.add("x", 4, &[-1.0; 4], &[1.0]), Status::InvalidArgument, "negative value");
    expect(im.add("blk.0.ffn_down.weight", 8, &[1.0; 8], &[1.0]), Status::Shape, "another shape for a name");
    expect(im.add("", 4, &[1.0; 4], &[1.0]), Status::InvalidArgument, "empty name");
    expect(im.set_chunk_size(0), Status::InvalidArgument, "chunk size 0");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn lutgemm_family() {
    let (x, w) = data(6);
    let cfg = Config { group_size: 32, backend: Backend::Cpu, ..Config::binary(3) };
    let mut q = Quantizer::new(COLS, cfg).unwrap();
    q.add_batch(&x, None).unwrap();
    let sol = q.solve_binary(&w, ROWS).unwrap();
    let p = sol.pack_lutgemm(32).unwrap();
    assert_eq!(p.qbits.len(), COLS.div_ceil(32) * 3 * ROWS);
    assert_eq!(p.alpha.len(), 2 * 3 * ROWS);
    let u = p.unpack().unwrap();
    assert_eq!(u.codes, sol.codes);
    for (a, b) in u.dequant.iter().zip(&sol.dequant) {
        assert!((a - b).abs() <= 4e-3 * b.abs().max(0.05), "{} vs {}", a, b);
    }
    expect(lutgemm_pack(3, ROWS, COLS, 32, &sol.codes[1..], &sol.alpha, &sol.bias, None), Status::Shape, "short codes");
    expect(lutgemm_pack(9, ROWS, COLS, 32, &sol.codes, &sol.alpha, &sol.bias, None), Status::InvalidArgument, "9 bits");
    expect(lutgemm_pack(3, ROWS, COLS, 0, &sol.codes, &sol.alpha, &sol.bias, None), Status::InvalidArgument, "group 0");
    let mut g = sol.g_idx.clone();
    g.swap(0, 40);
    expect(lutgemm_pack(3, ROWS, COLS, 32, &sol.codes, &sol.alpha, &sol.bias, Some(&g)), Status::Unsupported, "permuted g_idx");
    expect(lutgemm_unpack(3, ROWS, COLS, 32, &p.qbits[1..], &p.alpha, &p.bias), Status::Shape, "short qbits");
    expect(lutgemm_unpack(3, 0, COLS, 32, &[], &[], &[]), Status::Shape, "zero rows");
}

#[test]
fn npy_family() {
    let d = tmpdir("npy");
    let a: Vec<f32> = (0..20).map(|i| i as f32).collect();
    npy_write(d.join("a.npy"), &[4, 5], &a).unwrap();
    let (r, c, got) = npy_read::<f32>(d.join("a.npy")).unwrap();
    assert_eq!((r, c, got), (4, 5, a.clone()));
    npy_write(d.join("b.npy"), &[3], &[1u8, 2, 3]).unwrap();
    assert_eq!(npy_read::<u8>(d.join("b.npy")).unwrap(), (1, 3, vec![1, 2, 3]));
    npy_write(d.join("c.npy"), &[2, 2], &[1i32, -2, 3, -4]).unwrap();
    npy_write(d.join("h.npy"), &[2], &f32_to_half(HalfType::F16, &[1.0, 2.0])).unwrap();
    assert_eq!(NpyReader::open(d.join("h.npy")).unwrap().dtype(), NpyDtype::F16);
    let mut rd = NpyReader::open(d.join("a.npy")).unwrap();
    assert_eq!((rd.dtype(), rd.rows(), rd.cols()), (NpyDtype::F32, 4, 5));
    assert_eq!(rd.read_rows::<f32>(3).unwrap(), a[..15]);
    assert_eq!(rd.read_rows::<f32>(3).unwrap(), a[15..]);
    assert!(rd.read_rows::<f32>(3).unwrap().is_empty());
    expect(rd.read_rows::<i32>(1), Status::InvalidArgument, "i32 from an f32 file");
    expect(npy_write(d.join("x.npy"), &[3, 3], &a), Status::Shape, "data of another size");
    expect(npy_write::<f32>(d.join("x.npy"), &[], &[]), Status::InvalidArgument, "no dimension");
    expect(npy_read::<f32>(d.join("missing.npy")), Status::Io, "missing file");
    std::fs::write(d.join("bad.npy"), b"not an npy file at all").unwrap();
    expect(npy_read::<f32>(d.join("bad.npy")), Status::Format, "not an npy file");
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn library_queries_and_half() {
    assert_eq!(version_number(), HEADER_VERSION_NUMBER);
    assert!(build_info().contains(version()));
    assert!(backend_available(Backend::Cpu));
    assert!(backend_available(Backend::Auto));
    assert_eq!(status_string(Status::Cancelled.code()), Status::Cancelled.name());
    assert_eq!(Status::from_code(-14), Status::Cancelled);
    assert_eq!(num_groups(300, 128), Some(3));
    assert_eq!(num_groups(300, -1), Some(1));
    assert_eq!(num_groups(300, 0), None);
    let v = [1.0f32, -2.5, 65504.0, 1e-3];
    for dt in [HalfType::F16, HalfType::Bf16] {
        let h = f32_to_half(dt, &v);
        let back = half_to_f32(dt, &h);
        for (a, b) in v.iter().zip(&back) {
            assert!((a - b).abs() <= a.abs() * 8e-3, "{:?} {} {}", dt, a, b);
        }
    }
}

#[test]
fn masked_half_batches() {
    let mut r = Rng(7);
    let x = activations(&mut r, 64, COLS);
    let w = r.fill(ROWS * COLS, 0.2);
    let h = f32_to_half(HalfType::Bf16, &x);
    let mask: Vec<bool> = (0..64).map(|t| t % 3 != 0).collect();
    let kept: Vec<u16> = (0..64).filter(|t| mask[*t]).flat_map(|t| h[t * COLS..(t + 1) * COLS].to_vec()).collect();
    let mut a = Quantizer::new(COLS, cpu(32)).unwrap();
    a.add_batch_half_masked(HalfType::Bf16, &h, None, &mask).unwrap();
    let mut b = Quantizer::new(COLS, cpu(32)).unwrap();
    b.add(Batch::half(HalfType::Bf16, &kept, None)).unwrap();
    assert_eq!(a.num_tokens(), kept.len() as u64 / COLS as u64);
    assert_eq!(a.solve(&w, ROWS).unwrap().codes, b.solve(&w, ROWS).unwrap().codes);
    expect(a.add_batch_half_masked(HalfType::Bf16, &h, None, &mask[1..]), Status::Shape, "short mask");
    expect(a.add(Batch::half(HalfType::F16, &h[1..], None)), Status::Shape, "ragged batch");
    let t = a.num_tokens();
    let mut nan = h.clone();
    nan[5] = 0x7fc0; // bf16 NaN
    expect(a.add(Batch::half(HalfType::Bf16, &nan, None)), Status::NonFinite, "NaN batch");
    assert_eq!(a.num_tokens(), t);
}

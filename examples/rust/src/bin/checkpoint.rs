//! A GPTQ checkpoint from Rust: quantize a layer, pack it in the GPTQ layout, write
//! `P.qweight`, `P.qzeros`, `P.scales`, `P.g_idx` into a safetensors file beside a
//! `quantize_config.json`, then read both back, unpack, and check that the decoded weight
//! equals the solver's dequantized weight within the fp16 rounding of the scales.
//!
//!   checkpoint [OUT_DIR]   (default: a temporary folder, removed afterwards)
use gptaq::{
    f32_to_half, gptq_unpack, half_to_f32, read_gptq_quantize_config, write_gptq_quantize_config,
    Backend, Config, GptqPackOptions, GptqTensors, HalfType, Method, Quantizer, SafetensorsReader,
    SafetensorsWriter, Scales, StDtype,
};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

const P: &str = "model.layers.0.self_attn.q_proj";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (columns, rows, tokens) = (256usize, 128usize, 1024usize);
    let arg = std::env::args().nth(1);
    let dir = match &arg {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("gptaq-rust-checkpoint-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;

    // Quantize one layer: GPTAQ, 4 bits, groups of 64, act-order (so g_idx matters).
    let mut r = Rng(7);
    let x: Vec<f32> = (0..tokens * columns).map(|i| r.next() * (1.0 + (i % columns == 3) as i32 as f32 * 9.0)).collect();
    let x_fp: Vec<f32> = x.iter().map(|v| v + 0.01 * r.next()).collect();
    let w: Vec<f32> = (0..rows * columns).map(|_| 0.1 * r.next()).collect();
    let cfg = Config { method: Method::Gptaq, bits: 4, group_size: 64, act_order: true, backend: Backend::Cpu, ..Config::default() };
    let mut q = Quantizer::new(columns, cfg)?;
    q.add_batch(&x, Some(&x_fp))?;
    let sol = q.solve(&w, rows)?;

    // Pack (checkpoint_format "gptq", fp16 scales) and write the checkpoint.
    let packed = sol.pack_gptq(cfg.bits, cfg.group_size, GptqPackOptions::default())?;
    let s = packed.shapes;
    let scales16 = match &packed.scales {
        gptaq::ScalesData::F16(v) => v.clone(),
        _ => unreachable!("packed as fp16"),
    };
    let mut st = SafetensorsWriter::new()?;
    st.add(&format!("{}.qweight", P), StDtype::I32, &[s.qweight_rows, rows], &packed.qweight)?;
    st.add(&format!("{}.qzeros", P), StDtype::I32, &[s.n_groups, s.qzeros_cols], &packed.qzeros)?;
    st.add(&format!("{}.scales", P), StDtype::F16, &[s.n_groups, rows], &scales16)?;
    st.add(&format!("{}.g_idx", P), StDtype::I32, &[columns], &packed.g_idx)?;
    st.set_metadata("format", "pt")?;
    st.save(dir.join("model.safetensors"))?;
    write_gptq_quantize_config(dir.join("quantize_config.json"), &cfg, packed.format)?;
    println!("wrote {} and quantize_config.json", dir.join("model.safetensors").display());

    // Read it back as a loader would.
    let (rcfg, format) = read_gptq_quantize_config(dir.join("quantize_config.json"))?;
    assert_eq!((rcfg.bits, rcfg.group_size, rcfg.act_order, rcfg.sym), (4, 64, true, true));
    let mut rd = SafetensorsReader::open(dir.join("model.safetensors"))?;
    let (qwi, qweight) = rd.read::<i32>(&format!("{}.qweight", P))?;
    let (qzi, qzeros) = rd.read::<i32>(&format!("{}.qzeros", P))?;
    let (_, scales) = rd.read::<u16>(&format!("{}.scales", P))?;
    let (_, g_idx) = rd.read::<i32>(&format!("{}.g_idx", P))?;
    let (k_packed, n) = (qwi.shape[0], qwi.shape[1]);
    let k = k_packed * 32 / rcfg.bits as usize;
    let n_groups = qzi.shape[0];
    assert_eq!((k, n), (columns, rows));
    let t = GptqTensors { qweight: &qweight, qzeros: &qzeros, scales: Scales::F16(&scales), g_idx: Some(&g_idx) };
    let u = gptq_unpack(format, rcfg.bits, n, k, n_groups, &t)?;
    let decoded = u.dequant.expect("dequant with g_idx");

    // Codes and zeros exactly; the weight within the fp16 rounding of each scale.
    assert_eq!(u.codes, sol.codes, "codes differ after the round trip");
    assert_eq!(u.zeros, sol.zeros, "zeros differ after the round trip");
    let rounded = half_to_f32(HalfType::F16, &f32_to_half(HalfType::F16, &sol.scales));
    let mut worst = 0f32;
    for row in 0..rows {
        for c in 0..columns {
            let g = sol.g_idx[c] as usize;
            let (s32, s16) = (sol.scales[row * n_groups + g], rounded[row * n_groups + g]);
            let steps = (sol.codes[row * columns + c] as f32 - sol.zeros[row * n_groups + g]).abs();
            let bound = (s32 - s16).abs() * steps + 1e-6 * s32.abs();
            let diff = (decoded[row * columns + c] - sol.dequant[row * columns + c]).abs();
            assert!(diff <= bound, "({}, {}): decoded {} vs solver {} (bound {})", row, c,
                    decoded[row * columns + c], sol.dequant[row * columns + c], bound);
            worst = worst.max(diff);
        }
    }
    println!("{} x {} layer, {} groups: codes equal, decoded weight within fp16 scale rounding (max |diff| {:.3e})",
             rows, columns, n_groups, worst);
    if arg.is_none() {
        std::fs::remove_dir_all(&dir)?;
    }
    println!("checkpoint: OK");
    Ok(())
}

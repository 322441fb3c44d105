// A GPTQ checkpoint from Java: quantize a layer, pack it, write P.qweight, P.qzeros,
// P.scales and P.g_idx into a .safetensors file with quantize_config.json beside it (the
// layout AutoGPTQ, GPTQModel, transformers and vLLM load); then read both back, unpack,
// and check that the decoded weight equals the solver's dequantized weight within the
// fp16 rounding of the scales.
//
//   java -cp gptaq.jar:. CheckpointExample OUT_DIR
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Random;
import org.gptaq.Config;
import org.gptaq.DType;
import org.gptaq.Gptaq;
import org.gptaq.Gptq;
import org.gptaq.GptqFormat;
import org.gptaq.GptqPacked;
import org.gptaq.GptqUnpacked;
import org.gptaq.QuantResult;
import org.gptaq.QuantizeConfigFile;
import org.gptaq.Quantizer;
import org.gptaq.SafetensorsReader;
import org.gptaq.SafetensorsWriter;

public class CheckpointExample {
  static final String P = "model.layers.0.mlp.up_proj";

  public static void main(String[] args) throws Exception {
    Path out = Paths.get(args.length > 0 ? args[0] : "checkpoint_out");
    Files.createDirectories(out);
    int rows = 256, cols = 512, tokens = 1024;
    Random rng = new Random(7);
    float[] x = new float[tokens * cols], w = new float[rows * cols];
    for (int i = 0; i < x.length; i++) x[i] = (float) rng.nextGaussian() * (i % cols == 3 ? 10 : 1);
    for (int i = 0; i < w.length; i++) w[i] = (float) (rng.nextGaussian() * 0.02);

    // 1. quantize (GPTQ, 4 bits, groups of 128, act-order) and pack
    Config cfg = new Config().bits(4).groupSize(128).actOrder(true);
    QuantResult r;
    try (Quantizer q = new Quantizer(cols, cfg)) {
      q.addBatch(x);
      r = q.solve(w, rows);
    }
    GptqPacked packed = Gptq.pack(GptqFormat.V1, r);

    // 2. write the checkpoint
    Path st = out.resolve("model.safetensors");
    try (SafetensorsWriter writer = new SafetensorsWriter()) {
      packed.addTo(writer, P); // P.qweight, P.qzeros, P.scales (fp16), P.g_idx
      writer.setMetadata("format", "pt");
      writer.save(st);
    }
    Gptq.writeQuantizeConfig(out.resolve("quantize_config.json"), cfg, GptqFormat.V1);
    System.out.printf("wrote %s (%d bytes) and quantize_config.json%n", st, Files.size(st));

    // 3. read it back as a loader would: the config gives bits and format, the tensors
    //    their shapes; unpack and decode
    QuantizeConfigFile qc = Gptq.readQuantizeConfig(out.resolve("quantize_config.json"));
    GptqUnpacked u;
    try (SafetensorsReader reader = new SafetensorsReader(st)) {
      long[] qwShape = reader.info(P + ".qweight").shape;
      long[] scShape = reader.info(P + ".scales").shape;
      long n = qwShape[1], k = qwShape[0] * 32 / qc.config.bits(), groups = scShape[0];
      if (n != rows || k != cols) throw new AssertionError("shapes read back: " + n + " x " + k);
      if (!"pt".equals(reader.metadata("format"))) throw new AssertionError("metadata lost");
      u = Gptq.unpack(qc.format, qc.config.bits(), n, k, groups, reader.readI32(P + ".qweight"),
          reader.readI32(P + ".qzeros"), reader.readHalf(P + ".scales"), DType.F16,
          reader.readI32(P + ".g_idx"));
    }

    // 4. check: codes identical, dequant within fp16 rounding of the scales
    if (!java.util.Arrays.equals(u.codes, r.codes)) throw new AssertionError("codes differ after the round trip");
    double worst = 0;
    for (int row = 0; row < rows; row++)
      for (int c = 0; c < cols; c++) {
        int g = r.gIdx[c], i = row * cols + c;
        float s = r.scale(row, g);
        float s16 = Gptaq.fromHalf(Gptaq.toHalf(new float[] {s}, DType.F16), DType.F16)[0];
        double bound = Math.abs(s - s16) * Math.abs(r.codes[i] - r.zero(row, g)) + 1e-7;
        double diff = Math.abs(u.dequant[i] - r.dequant[i]);
        if (diff > bound) throw new AssertionError("weight (" + row + ", " + c + "): " + diff + " > " + bound);
        worst = Math.max(worst, diff);
      }
    System.out.printf("round trip: %d x %d codes identical, dequant within fp16 rounding (max diff %.3g)%n",
        rows, cols, worst);
    System.out.println("checkpoint: OK");
  }
}

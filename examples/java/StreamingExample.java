// Streaming GPTAQ calibration of a small MLP with the Java binding (org.gptaq).
//
// For each layer in order: stream calibration batches (the layer's input in the
// already-quantized model, x_q, and in the full-precision model, x_fp), solve, replace
// the layer's weight by its dequantized version for the next layers, and save codes,
// scales, zeros and g_idx as little-endian raw files in OUTDIR.
//
//   java -cp gptaq.jar:. StreamingExample [OUTDIR]
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Random;
import org.gptaq.Config;
import org.gptaq.DType;
import org.gptaq.Gptaq;
import org.gptaq.GptaqException;
import org.gptaq.Method;
import org.gptaq.Npy;
import org.gptaq.QuantResult;
import org.gptaq.Quantizer;

public final class StreamingExample {
  static final int[] WIDTHS = {256, 512, 256, 128}; // layer i maps WIDTHS[i] -> WIDTHS[i+1]
  static final int BATCHES = 8, TOKENS = 64;

  /** y = gelu(x W^T) for a row-major tokens x in input and out x in weight. */
  static float[] layer(float[] x, float[] w, int tokens, int in, int out, boolean last) {
    float[] y = new float[tokens * out];
    for (int t = 0; t < tokens; t++)
      for (int o = 0; o < out; o++) {
        float s = 0;
        for (int i = 0; i < in; i++) s += x[t * in + i] * w[o * in + i];
        y[t * out + o] = last ? s : (float) (0.5 * s * (1 + Math.tanh(0.7978845608 * (s + 0.044715 * s * s * s))));
      }
    return y;
  }

  public static void main(String[] args) throws IOException {
    Path out = Paths.get(args.length > 0 ? args[0] : "gptaq_java_out");
    Files.createDirectories(out);
    System.out.println("libgptaq " + Gptaq.version() + ", backends " + Gptaq.availableBackends());

    Random rng = new Random(0);
    int layers = WIDTHS.length - 1;
    float[][] fp = new float[layers][], q = new float[layers][];
    for (int l = 0; l < layers; l++) {
      fp[l] = new float[WIDTHS[l + 1] * WIDTHS[l]];
      for (int i = 0; i < fp[l].length; i++) fp[l][i] = (float) (rng.nextGaussian() / Math.sqrt(WIDTHS[l]));
      q[l] = fp[l].clone();
    }
    // A fixed calibration set (in practice: tokenized text through the embedding).
    float[][] calib = new float[BATCHES][TOKENS * WIDTHS[0]];
    for (float[] b : calib) for (int i = 0; i < b.length; i++) b[i] = (float) rng.nextGaussian();

    Config cfg = new Config().method(Method.GPTAQ).bits(4).groupSize(128).actOrder(true);
    for (int l = 0; l < layers; l++) {
      int in = WIDTHS[l], rows = WIDTHS[l + 1];
      try (Quantizer quant = new Quantizer(in, cfg)) {
        // One direct buffer pair reused for every batch: the library reads it in place.
        FloatBuffer bq = ByteBuffer.allocateDirect(TOKENS * in * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        FloatBuffer bfp = ByteBuffer.allocateDirect(TOKENS * in * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
        for (float[] x0 : calib) {
          float[] xq = x0, xfp = x0;
          for (int k = 0; k < l; k++) { // run both models up to this layer
            xq = layer(xq, q[k], TOKENS, WIDTHS[k], WIDTHS[k + 1], false);
            xfp = layer(xfp, fp[k], TOKENS, WIDTHS[k], WIDTHS[k + 1], false);
          }
          bq.clear();
          bq.put(xq).flip();
          bfp.clear();
          bfp.put(xfp).flip();
          quant.addBatch(bq, bfp);
        }
        QuantResult r;
        try {
          r = quant.solve(fp[l], rows);
        } catch (GptaqException e) {
          System.err.println("layer " + l + ": " + e.status() + ": " + e.getMessage());
          throw e;
        }
        q[l] = r.dequant; // later layers see the quantized output
        double err = 0, ref = 0;
        for (int i = 0; i < r.dequant.length; i++) {
          double d = r.dequant[i] - fp[l][i];
          err += d * d;
          ref += fp[l][i] * (double) fp[l][i];
        }
        System.out.printf("layer %d: %d x %d, %d tokens, loss %.4g, rel. weight error %.4f, %.3f s%n",
            l, rows, in, quant.numTokens(), r.loss, Math.sqrt(err / ref), r.seconds);
        // codes (0..255 in a short[]) as uint8, the rest as .npy files numpy reads
        Npy.write(out.resolve("layer" + l + ".codes.npy"), new long[] {rows, in}, r.codes, DType.U8);
        Npy.write(out.resolve("layer" + l + ".scales.npy"), new long[] {rows, r.nGroups}, r.scales);
        Npy.write(out.resolve("layer" + l + ".zeros.npy"), new long[] {rows, r.nGroups}, r.zeros);
        Npy.write(out.resolve("layer" + l + ".g_idx.npy"), new long[] {in}, r.gIdx);
        if (!(Math.sqrt(err / ref) < 0.2)) throw new IllegalStateException("unexpectedly large error");
      }
    }
    System.out.println("saved to " + out.toAbsolutePath());
  }
}

// Distributed calibration with the Java binding: two workers (threads here; processes or
// machines work the same, the statistics travel as bytes) each stream half of the
// calibration tokens into their own Quantizer and serialize their statistics; a leader
// deserializes (merges) them and solves. The merged result must be identical to one
// worker that saw all the data, which this example asserts.
//
// The statistics are plain sums, so a merge equals one pass up to the order of fp32
// additions. The activations here lie on a 1/64 grid with few bits, so every fp32 sum is
// exact and any split of the tokens gives bit-identical statistics and codes; with
// arbitrary data the two agree to fp32 rounding.
//
//   java -cp gptaq.jar:. DistributedCalibration
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.gptaq.Config;
import org.gptaq.Method;
import org.gptaq.QuantResult;
import org.gptaq.Quantizer;
import org.gptaq.StatsMode;

public class DistributedCalibration {
  static final int COLS = 256, ROWS = 128, TOKENS = 2048;

  /** Activations on a coarse dyadic grid (see above), with an outlier channel. */
  static float[] activations(long seed) {
    Random rng = new Random(seed);
    float[] x = new float[TOKENS * COLS];
    for (int i = 0; i < x.length; i++) x[i] = (rng.nextInt(33) - 16) / 64.0f;
    for (int t = 0; t < TOKENS; t++) x[t * COLS + 7] *= 8;
    return x;
  }

  /** One worker: calibrate on tokens [t0, t1) and return the serialized statistics. */
  static byte[] worker(Config cfg, float[] xq, float[] xfp, int t0, int t1) {
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      for (int t = t0; t < t1; t += 256) { // batches as a data loader would give them
        int e = Math.min(t1, t + 256);
        q.addBatch(Arrays.copyOfRange(xq, t * COLS, e * COLS), Arrays.copyOfRange(xfp, t * COLS, e * COLS));
      }
      return q.stats().serialize();
    }
  }

  public static void main(String[] args) throws Exception {
    Config cfg = new Config().method(Method.GPTAQ).bits(4).groupSize(128).actOrder(true);
    float[] xfp = activations(1), xq = activations(2);
    Random rng = new Random(3);
    float[] w = new float[ROWS * COLS];
    for (int i = 0; i < w.length; i++) w[i] = (float) (rng.nextGaussian() * 0.05);

    // two workers on halves, in parallel
    ExecutorService pool = Executors.newFixedThreadPool(2);
    Future<byte[]> a = pool.submit(() -> worker(cfg, xq, xfp, 0, TOKENS / 2));
    Future<byte[]> b = pool.submit(() -> worker(cfg, xq, xfp, TOKENS / 2, TOKENS));
    byte[] sa = a.get(), sb = b.get();
    pool.shutdown();
    System.out.printf("worker statistics: %d + %d bytes%n", sa.length, sb.length);

    QuantResult merged;
    try (Quantizer leader = new Quantizer(COLS, cfg)) {
      leader.stats().deserialize(sa, StatsMode.REPLACE);
      leader.stats().deserialize(sb, StatsMode.ACCUMULATE);
      if (leader.numTokens() != TOKENS) throw new AssertionError("merged tokens " + leader.numTokens());
      merged = leader.solve(w, ROWS);
    }
    // the reference: one worker on all tokens
    QuantResult single;
    try (Quantizer one = new Quantizer(COLS, cfg)) {
      one.stats().deserialize(worker(cfg, xq, xfp, 0, TOKENS), StatsMode.REPLACE);
      single = one.solve(w, ROWS);
    }
    if (!Arrays.equals(merged.codes, single.codes)) throw new AssertionError("merged codes differ from one worker's");
    if (!Arrays.equals(merged.scales, single.scales) || !Arrays.equals(merged.zeros, single.zeros))
      throw new AssertionError("merged scales/zeros differ from one worker's");
    System.out.printf("merged solve: loss %.6g, %d codes identical to one worker on all %d tokens%n",
        merged.loss, merged.codes.length, TOKENS);
    System.out.println("distributed calibration: OK");
  }
}

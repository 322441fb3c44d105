package org.gptaq;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/** Test data, .npy files and the raw-C-API reference program (gptaq_capi_ref). */
final class TestSupport {
  private TestSupport() {}

  /** Correlated calibration inputs and a weight; xFp non-null for GPTAQ pairs. */
  static final class Problem {
    final int rows, cols, tokens;
    final float[] w, xQ, xFp;

    Problem(int rows, int cols, int tokens, long seed, boolean pair) {
      this.rows = rows;
      this.cols = cols;
      this.tokens = tokens;
      SplittableRandom rng = new SplittableRandom(seed);
      float[][] mix = new float[cols][cols];
      float[] scale = new float[cols];
      for (int i = 0; i < cols; i++) {
        scale[i] = (float) Math.exp(gauss(rng) * 0.5);
        for (int j = 0; j < cols; j++) mix[i][j] = (float) (gauss(rng) / Math.sqrt(cols));
      }
      float[] fp = new float[tokens * cols];
      float[] z = new float[cols];
      for (int t = 0; t < tokens; t++) {
        for (int i = 0; i < cols; i++) z[i] = (float) gauss(rng);
        for (int j = 0; j < cols; j++) {
          float s = 0;
          for (int i = 0; i < cols; i++) s += z[i] * mix[i][j];
          fp[t * cols + j] = s * scale[j];
        }
      }
      w = new float[rows * cols];
      for (int i = 0; i < w.length; i++) w[i] = (float) gauss(rng);
      if (pair) {
        xFp = fp;
        xQ = new float[fp.length];
        for (int i = 0; i < fp.length; i++) xQ[i] = fp[i] + 0.05f * (float) gauss(rng);
      } else {
        xQ = fp;
        xFp = null;
      }
    }
  }

  static double gauss(SplittableRandom rng) {
    double u = rng.nextDouble(), v = rng.nextDouble();
    return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
  }

  /** Values on a 1/4 grid: every fp32 sum of their products is exact. */
  static float[] dyadic(int n, long seed) {
    SplittableRandom rng = new SplittableRandom(seed);
    float[] x = new float[n];
    for (int i = 0; i < n; i++) x[i] = (rng.nextInt(17) - 8) / 4.0f;
    return x;
  }

  static FloatBuffer directFloats(float[] a) {
    FloatBuffer b = ByteBuffer.allocateDirect(a.length * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    b.put(a).flip();
    return b;
  }

  // ---- .npy ----

  static void writeNpy(Path p, String descr, int rows, int cols, ByteBuffer data) throws IOException {
    String dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + rows + ", " + cols + "), }";
    int total = 10 + dict.length() + 1;
    int pad = (64 - total % 64) % 64;
    StringBuilder h = new StringBuilder(dict);
    for (int i = 0; i < pad; i++) h.append(' ');
    h.append('\n');
    byte[] hb = h.toString().getBytes(StandardCharsets.US_ASCII);
    ByteBuffer out = ByteBuffer.allocate(10 + hb.length + data.remaining()).order(ByteOrder.LITTLE_ENDIAN);
    out.put((byte) 0x93).put("NUMPY".getBytes(StandardCharsets.US_ASCII)).put((byte) 1).put((byte) 0);
    out.putShort((short) hb.length).put(hb).put(data);
    Files.write(p, out.array());
  }

  static void writeF32(Path p, float[] a, int rows, int cols) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(a.length * 4).order(ByteOrder.LITTLE_ENDIAN);
    b.asFloatBuffer().put(a);
    writeNpy(p, "<f4", rows, cols, b);
  }

  static void writeU16(Path p, short[] a, int rows, int cols) throws IOException {
    ByteBuffer b = ByteBuffer.allocate(a.length * 2).order(ByteOrder.LITTLE_ENDIAN);
    b.asShortBuffer().put(a);
    writeNpy(p, "<f2", rows, cols, b); // 16-bit patterns; the reference reads them raw
  }

  static void writeU8(Path p, byte[] a) throws IOException {
    writeNpy(p, "|u1", 1, a.length, ByteBuffer.wrap(a));
  }

  static ByteBuffer npyData(Path p) throws IOException {
    ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
    int hlen = b.getShort(8) & 0xffff;
    b.position(10 + hlen);
    return b.slice().order(ByteOrder.LITTLE_ENDIAN);
  }

  static float[] readF32(Path p) throws IOException {
    ByteBuffer b = npyData(p);
    float[] a = new float[b.remaining() / 4];
    b.asFloatBuffer().get(a);
    return a;
  }

  static int[] readI32(Path p) throws IOException {
    ByteBuffer b = npyData(p);
    int[] a = new int[b.remaining() / 4];
    b.asIntBuffer().get(a);
    return a;
  }

  static byte[] readU8(Path p) throws IOException {
    ByteBuffer b = npyData(p);
    byte[] a = new byte[b.remaining()];
    b.get(a);
    return a;
  }

  // ---- the reference program ----

  static Path tmpDir() throws IOException {
    String base = System.getProperty("gptaq.test.tmp", System.getProperty("java.io.tmpdir"));
    Files.createDirectories(Paths.get(base));
    return Files.createTempDirectory(Paths.get(base), "ref");
  }

  /** The reference's outputs: arrays by name plus "status"/"message" or info fields. */
  static final class Ref {
    final Map<String, Object> v = new HashMap<>();
    int status() { return ((Number) v.get("status")).intValue(); }
    String message() { return (String) v.get("message"); }
    byte[] u8(String k) { return (byte[]) v.get(k); }
    float[] f32(String k) { return (float[]) v.get(k); }
    int[] i32(String k) { return (int[]) v.get(k); }
    double info(String k) { return (Double) v.get(k); }
  }

  /**
   * Run gptaq_capi_ref on the same data. xQ/xFp are float[] (f32) or short[] (with
   * dtype "f16"/"bf16"); batch <= 0 means one batch; cfg are "field=value" strings.
   */
  static Ref capiRef(int rows, int cols, float[] w, Object xQ, Object xFp, byte[] mask, int batch,
      String dtype, String... cfg) throws IOException, InterruptedException {
    String exe = System.getProperty("gptaq.capi.ref");
    if (exe == null) throw new IllegalStateException("-Dgptaq.capi.ref must name gptaq_capi_ref (ctest sets it)");
    Path d = tmpDir();
    writeF32(d.resolve("w.npy"), w, rows, cols);
    List<String> args = new ArrayList<>();
    args.add(exe);
    args.add(d.toString());
    args.add(d.resolve("w.npy").toString());
    args.add(writeX(d.resolve("xq.npy"), xQ, cols));
    if (xFp != null) {
      args.add("--xfp");
      args.add(writeX(d.resolve("xfp.npy"), xFp, cols));
    }
    if (mask != null) {
      writeU8(d.resolve("mask.npy"), mask);
      args.add("--mask");
      args.add(d.resolve("mask.npy").toString());
    }
    if (batch > 0) {
      args.add("--batch");
      args.add(Integer.toString(batch));
    }
    args.add("--dtype");
    args.add(dtype);
    for (String c : cfg) args.add(c);
    Process p = new ProcessBuilder(args).redirectErrorStream(false).start();
    String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
    int rc = p.waitFor();
    Ref r = new Ref();
    if (rc == 2) {
      String[] lines = err.split("\n", 2);
      r.v.put("status", Integer.parseInt(lines[0].split(" ")[1]));
      r.v.put("message", lines.length > 1 ? lines[1].replaceAll("\n$", "") : "");
      return r;
    }
    if (rc != 0) throw new IllegalStateException("gptaq_capi_ref failed: " + err);
    r.v.put("status", 0);
    for (String n : new String[] {"codes"}) r.v.put(n, readU8(d.resolve(n + ".npy")));
    r.v.put("g_idx", readI32(d.resolve("g_idx.npy")));
    for (String n : new String[] {"dequant", "scales", "zeros", "alpha", "bias"}) {
      Path f = d.resolve(n + ".npy");
      if (Files.exists(f)) r.v.put(n, readF32(f));
    }
    for (String line : Files.readAllLines(d.resolve("info.txt"))) {
      String[] kv = line.split(" ");
      r.v.put(kv[0], Double.parseDouble(kv[1]));
    }
    return r;
  }

  private static String writeX(Path p, Object x, int cols) throws IOException {
    if (x instanceof float[]) {
      float[] a = (float[]) x;
      writeF32(p, a, a.length / cols, cols);
    } else {
      short[] a = (short[]) x;
      writeU16(p, a, a.length / cols, cols);
    }
    return p.toString();
  }

  /** Resident set size of this process (Linux /proc). */
  static long rssBytes() throws IOException {
    for (String line : Files.readAllLines(Paths.get("/proc/self/status")))
      if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
    throw new IllegalStateException("no VmRSS");
  }
}

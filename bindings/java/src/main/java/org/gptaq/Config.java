package org.gptaq;

import org.gptaq.swig.gptaq_config;

/**
 * Every field of gptaq_config, starting from the library's defaults, with fluent setters:
 * {@code new Config().method(Method.GPTAQ).bits(4).groupSize(128).actOrder(true)}.
 * Values are validated by the library when a {@link Quantizer} is created (an invalid
 * one raises {@link GptaqException} with {@link Status#INVALID_ARGUMENT} and the field
 * named in the message). See gptaq.h for each field's range.
 */
public final class Config implements Cloneable {
  private Method method;
  private int bits;
  private int groupSize;
  private boolean sym;
  private boolean actOrder;
  private boolean staticGroups;
  private boolean mse;
  private int blockSize;
  private Backend backend;
  private int device;
  private int numThreads;
  private float dampPercent;
  private int dampRetries;
  private float alpha;
  private float mseNorm;
  private int mseGrid;
  private float mseMaxShrink;
  private QuantizerKind quantizer;
  private int hyperBits;
  private int exploreBits;
  private int exploreSplit;
  private Objective objective;
  private boolean actGroupAware;
  private int failsafeTokens;

  /** The library's defaults (gptaq_config_init). */
  public Config() {
    NativeLoader.load();
    gptaq_config c = new gptaq_config();
    try {
      read(c);
    } finally {
      c.delete();
    }
  }

  /** GPTQT: GPTQ's sweep with the binary-coding quantizer at {@code bits} (2..4). */
  public static Config gptqt(int bits) {
    return new Config().method(Method.GPTQ).quantizer(QuantizerKind.BINARY).bits(bits);
  }

  void read(gptaq_config c) {
    method = Method.of(c.getMethod());
    bits = c.getBits();
    groupSize = c.getGroup_size();
    sym = c.getSym() != 0;
    actOrder = c.getAct_order() != 0;
    staticGroups = c.getStatic_groups() != 0;
    mse = c.getMse() != 0;
    blockSize = c.getBlock_size();
    backend = Backend.of(c.getBackend());
    device = c.getDevice();
    numThreads = c.getNum_threads();
    dampPercent = c.getDamp_percent();
    dampRetries = c.getDamp_retries();
    alpha = c.getAlpha();
    mseNorm = c.getMse_norm();
    mseGrid = c.getMse_grid();
    mseMaxShrink = c.getMse_max_shrink();
    quantizer = QuantizerKind.of(c.getQuantizer());
    hyperBits = c.getHyper_bits();
    exploreBits = c.getExplore_bits();
    exploreSplit = c.getExplore_split();
    objective = Objective.of(c.getObjective());
    actGroupAware = c.getAct_group_aware() != 0;
    failsafeTokens = c.getFailsafe_tokens();
  }

  /** A native gptaq_config holding these values; the caller deletes it. */
  gptaq_config toNative() {
    gptaq_config c = new gptaq_config();
    c.setMethod(method.code());
    c.setBits(bits);
    c.setGroup_size(groupSize);
    c.setSym(sym ? 1 : 0);
    c.setAct_order(actOrder ? 1 : 0);
    c.setStatic_groups(staticGroups ? 1 : 0);
    c.setMse(mse ? 1 : 0);
    c.setBlock_size(blockSize);
    c.setBackend(backend.code());
    c.setDevice(device);
    c.setNum_threads(numThreads);
    c.setDamp_percent(dampPercent);
    c.setDamp_retries(dampRetries);
    c.setAlpha(alpha);
    c.setMse_norm(mseNorm);
    c.setMse_grid(mseGrid);
    c.setMse_max_shrink(mseMaxShrink);
    c.setQuantizer(quantizer.code());
    c.setHyper_bits(hyperBits);
    c.setExplore_bits(exploreBits);
    c.setExplore_split(exploreSplit);
    c.setObjective(objective.code());
    c.setAct_group_aware(actGroupAware ? 1 : 0);
    c.setFailsafe_tokens(failsafeTokens);
    return c;
  }

  private static <T> T nonNull(T v, String name) {
    if (v == null) throw new NullPointerException(name + " is null");
    return v;
  }

  /** RTN, GPTQ (default) or GPTAQ. */
  public Config method(Method v) { method = nonNull(v, "method"); return this; }
  /** 2..8 for the uniform grid, 2..4 for binary coding (default 4). */
  public Config bits(int v) { bits = v; return this; }
  /** Columns per group, or -1 for one group per row (default 128). */
  public Config groupSize(int v) { groupSize = v; return this; }
  /** Symmetric grid (default true). */
  public Config sym(boolean v) { sym = v; return this; }
  /** Quantize columns by decreasing diag(H) (default false). */
  public Config actOrder(boolean v) { actOrder = v; return this; }
  /** Group parameters from the original weight (default false). */
  public Config staticGroups(boolean v) { staticGroups = v; return this; }
  /** MSE clip search for scale/zero (default false). */
  public Config mse(boolean v) { mse = v; return this; }
  /** Lazy block width, 1..4096 (default 128). */
  public Config blockSize(int v) { blockSize = v; return this; }
  /** AUTO (default), CPU or CUDA. */
  public Config backend(Backend v) { backend = nonNull(v, "backend"); return this; }
  /** CUDA device ordinal (default 0). */
  public Config device(int v) { device = v; return this; }
  /** CPU threads, 0 = all (default 0). */
  public Config numThreads(int v) { numThreads = v; return this; }
  /** Relative damping, &gt; 0 (default 0.01). */
  public Config dampPercent(float v) { dampPercent = v; return this; }
  /** x10 damping retries, 0..8 (default 4). */
  public Config dampRetries(int v) { dampRetries = v; return this; }
  /** GPTAQ's weight of the asymmetry term (default 0.25). */
  public Config alpha(float v) { alpha = v; return this; }
  /** Exponent of the MSE clip error (default 2.4). */
  public Config mseNorm(float v) { mseNorm = v; return this; }
  /** MSE grid points per unit shrink (default 100). */
  public Config mseGrid(int v) { mseGrid = v; return this; }
  /** Largest MSE shrink tried, (0, 1) (default 0.8). */
  public Config mseMaxShrink(float v) { mseMaxShrink = v; return this; }
  /** UNIFORM (default) or BINARY (GPTQT). */
  public Config quantizer(QuantizerKind v) { quantizer = nonNull(v, "quantizer"); return this; }
  /** GPTQT: the first linear step's bits, bits &lt; n &lt;= 8; 0 = bits + 2 (default). */
  public Config hyperBits(int v) { hyperBits = v; return this; }
  /** GPTQT: scale search span in bits (default 1). */
  public Config exploreBits(int v) { exploreBits = v; return this; }
  /** GPTQT: number of scale candidates, 1..1000 (default 20). */
  public Config exploreSplit(int v) { exploreSplit = v; return this; }
  /** GPTQT: OUTPUT (default), HESSIAN or WEIGHT. */
  public Config objective(Objective v) { objective = nonNull(v, "objective"); return this; }

  /**
   * Group-aware reordering (GAR, default false): columns by decreasing diag(H) inside each
   * group, groups by their largest entry, so groups stay contiguous and g_idx is
   * c / groupSize. Needs groupSize &gt;= 1 and excludes actOrder.
   */
  public Config actGroupAware(boolean v) { actGroupAware = v; return this; }
  /**
   * Failsafe: quantize by round-to-nearest when the statistics hold fewer than this many
   * tokens (zero tokens included); 0 = off (default), &gt;= 0. The result's
   * {@link SolveResult#failsafeUsed} says whether it happened.
   */
  public Config failsafeTokens(int v) { failsafeTokens = v; return this; }

  public Method method() { return method; }
  public int bits() { return bits; }
  public int groupSize() { return groupSize; }
  public boolean sym() { return sym; }
  public boolean actOrder() { return actOrder; }
  public boolean staticGroups() { return staticGroups; }
  public boolean mse() { return mse; }
  public int blockSize() { return blockSize; }
  public Backend backend() { return backend; }
  public int device() { return device; }
  public int numThreads() { return numThreads; }
  public float dampPercent() { return dampPercent; }
  public int dampRetries() { return dampRetries; }
  public float alpha() { return alpha; }
  public float mseNorm() { return mseNorm; }
  public int mseGrid() { return mseGrid; }
  public float mseMaxShrink() { return mseMaxShrink; }
  public QuantizerKind quantizer() { return quantizer; }
  public int hyperBits() { return hyperBits; }
  public int exploreBits() { return exploreBits; }
  public int exploreSplit() { return exploreSplit; }
  public Objective objective() { return objective; }
  public boolean actGroupAware() { return actGroupAware; }
  public int failsafeTokens() { return failsafeTokens; }

  @Override
  public Config clone() {
    try {
      return (Config) super.clone();
    } catch (CloneNotSupportedException e) {
      throw new AssertionError(e);
    }
  }

  @Override
  public String toString() {
    return "Config{method=" + method + ", quantizer=" + quantizer + ", bits=" + bits
        + ", groupSize=" + groupSize + ", sym=" + sym + ", actOrder=" + actOrder
        + ", staticGroups=" + staticGroups + ", mse=" + mse + ", blockSize=" + blockSize
        + ", backend=" + backend + ", device=" + device + ", numThreads=" + numThreads
        + ", dampPercent=" + dampPercent + ", dampRetries=" + dampRetries + ", alpha=" + alpha
        + ", mseNorm=" + mseNorm + ", mseGrid=" + mseGrid + ", mseMaxShrink=" + mseMaxShrink
        + ", hyperBits=" + hyperBits + ", exploreBits=" + exploreBits
        + ", exploreSplit=" + exploreSplit + ", objective=" + objective
        + ", actGroupAware=" + actGroupAware + ", failsafeTokens=" + failsafeTokens + "}";
  }
}

package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import java.nio.file.Paths;
import org.junit.jupiter.api.Test;

/**
 * The binding's defaults are the library's and the CLI's: Quantizer(columns) with no
 * configuration on ${GPTAQ_TEST_DATA}/W.npy, X.npy gives the codes the installed CLI wrote
 * with no quantization option (cli-defaults/codes.npy), and the spelled-out defaults give
 * cli/codes.npy. Run by ctest with the install.prefix fixture (-Dgptaq.test.data).
 */
class DefaultsTest {
  static Path data() {
    String d = System.getProperty("gptaq.test.data");
    if (d == null) throw new IllegalStateException("-Dgptaq.test.data must name GPTAQ_TEST_DATA (ctest sets it)");
    return Paths.get(d);
  }

  static short[] quantizeWithDefaults(Path data) {
    NpyArray w = Npy.read(data.resolve("W.npy"));
    try (Quantizer q = new Quantizer(w.cols, new Config().backend(Backend.CPU));
         Npy.Reader x = Npy.open(data.resolve("X.npy"))) {
      for (NpyArray chunk; (chunk = x.readRows(256)) != null; ) q.addBatch(chunk.f32());
      return q.solve(w.f32(), w.rows).codes;
    }
  }

  @Test
  void defaultsMatchTheCliDefaults() {
    Path data = data();
    short[] codes = quantizeWithDefaults(data);
    NpyArray cli = Npy.read(data.resolve("cli-defaults").resolve("codes.npy"));
    short[] want = cli.u8();
    int same = 0;
    for (int i = 0; i < want.length; i++) if (want[i] == codes[i]) same++;
    assertEquals(want.length, same, "codes equal to the CLI's defaults: " + same + " of " + want.length);
  }

  @Test
  void spelledOutDefaultsMatchTheCli() {
    Path data = data();
    assertArrayEquals(Npy.read(data.resolve("cli").resolve("codes.npy")).u8(), quantizeWithDefaults(data));
  }
}

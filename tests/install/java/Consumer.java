// A program outside the source tree that uses only the installed gptaq.jar (Maven
// coordinates org.gptaq:gptaq): quantize the shared test layer with the settings the
// CLI reference used (GPTQ, 4 bits, group 128, symmetric = the library's defaults) and
// compare the codes with the installed CLI's.
//
//   java -cp gptaq.jar:. Consumer DATA_DIR
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;
import org.gptaq.Backend;
import org.gptaq.Config;
import org.gptaq.Gptaq;
import org.gptaq.Method;
import org.gptaq.NativeLoader;
import org.gptaq.Npy;
import org.gptaq.NpyArray;
import org.gptaq.QuantResult;
import org.gptaq.Quantizer;

public class Consumer {
  public static void main(String[] args) {
    Path data = Paths.get(args[0]);
    NpyArray w = Npy.read(data.resolve("W.npy"));
    Config cfg = new Config().method(Method.GPTQ).bits(4).groupSize(128).sym(true).backend(Backend.CPU);
    QuantResult r;
    try (Quantizer q = new Quantizer(w.cols, cfg); Npy.Reader x = Npy.open(data.resolve("X.npy"))) {
      for (NpyArray chunk; (chunk = x.readRows(128)) != null; ) q.addBatch(chunk.f32());
      r = q.solve(w.f32(), w.rows);
    }
    short[] cli = Npy.read(data.resolve("cli").resolve("codes.npy")).u8();
    System.out.println("libgptaq " + Gptaq.version() + "; JNI library " + NativeLoader.loadedFrom()
        + "; libgptaq " + (NativeLoader.coreLoadedFrom() != null ? NativeLoader.coreLoadedFrom() : "by the dynamic loader"));
    if (!Arrays.equals(cli, r.codes)) {
      int diff = 0;
      for (int i = 0; i < cli.length; i++) if (cli[i] != r.codes[i]) diff++;
      System.out.println("codes differ from the CLI's in " + diff + " of " + cli.length);
      System.exit(1);
    }
    System.out.println("codes: " + r.codes.length + " equal to the CLI's");
    System.out.println("consumer run: OK");
  }
}

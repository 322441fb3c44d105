package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * Progress, cancellation and logs through listeners. The solver calls the C callbacks
 * (gptaq_ctx_set_progress / set_log contract of gptaq.h); cancelling leaves the Quantizer
 * exactly as before and the next call runs normally.
 */
class ProgressTest {
  static final int ROWS = 32, COLS = 256;
  final TestSupport.Problem p = new TestSupport.Problem(ROWS, COLS, 400, 31, true);
  final Config cfg = new Config().method(Method.GPTAQ).groupSize(64).blockSize(32).actOrder(true);

  QuantResult uncancelled() {
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.addBatch(p.xQ, p.xFp);
      return q.solve(p.w, ROWS);
    }
  }

  @Test
  void reportsEveryPhaseWithinItsTotal() {
    List<Phase> phases = new ArrayList<>();
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.setProgressListener((phase, done, total) -> {
        assertTrue(done >= 0 && done <= total, phase + " " + done + "/" + total);
        if (phases.isEmpty() || phases.get(phases.size() - 1) != phase) phases.add(phase);
        return true;
      });
      q.addBatch(p.xQ, p.xFp);
      assertTrue(phases.contains(Phase.STATISTICS), phases.toString());
      phases.clear();
      q.solve(p.w, ROWS);
      assertTrue(phases.contains(Phase.FACTORIZATION), phases.toString());
      assertTrue(phases.contains(Phase.SWEEP), phases.toString());
      assertTrue(phases.indexOf(Phase.FACTORIZATION) < phases.indexOf(Phase.SWEEP), phases.toString());
      q.setProgressListener(null); // cleared: no more calls
      phases.clear();
      q.solve(p.w, ROWS);
      assertTrue(phases.isEmpty(), phases.toString());
    }
  }

  @Test
  void cancelMidSolveThenSolveAgainToTheSameAnswer() {
    QuantResult ref = uncancelled();
    for (Phase at : new Phase[] {Phase.FACTORIZATION, Phase.SWEEP}) {
      try (Quantizer q = new Quantizer(COLS, cfg)) {
        q.addBatch(p.xQ, p.xFp);
        byte[] before = q.stats().serialize();
        AtomicInteger calls = new AtomicInteger();
        q.setProgressListener((phase, done, total) -> {
          calls.incrementAndGet();
          return !(phase == at && done > 0);
        });
        GptaqException e = assertThrows(GptaqException.class, () -> q.solve(p.w, ROWS));
        assertEquals(Status.CANCELLED, e.status(), e.getMessage());
        assertTrue(calls.get() > 0);
        assertArrayEquals(before, q.stats().serialize());
        q.setProgressListener((phase, done, total) -> true);
        QuantResult r = q.solve(p.w, ROWS);
        assertArrayEquals(ref.codes, r.codes);
        assertArrayEquals(ref.scales, r.scales);
        assertArrayEquals(ref.dequant, r.dequant);
      }
    }
  }

  @Test
  void cancelledBatchLeavesTheStatistics() {
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.addBatch(p.xQ, p.xFp);
      byte[] before = q.stats().serialize();
      q.setProgressListener((phase, done, total) -> phase != Phase.STATISTICS);
      GptaqException e = assertThrows(GptaqException.class, () -> q.addBatch(p.xQ, p.xFp));
      assertEquals(Status.CANCELLED, e.status());
      assertArrayEquals(before, q.stats().serialize());
      assertEquals(400, q.numTokens());
    }
  }

  @Test
  void listenerExceptionCancelsAndIsRethrown() {
    QuantResult ref = uncancelled();
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.addBatch(p.xQ, p.xFp);
      IllegalStateException boom = new IllegalStateException("boom");
      q.setProgressListener((phase, done, total) -> {
        if (phase == Phase.SWEEP) throw boom;
        return true;
      });
      IllegalStateException e = assertThrows(IllegalStateException.class, () -> q.solve(p.w, ROWS));
      assertSame(boom, e);
      assertEquals(1, e.getSuppressed().length);
      assertEquals(Status.CANCELLED, ((GptaqException) e.getSuppressed()[0]).status());
      q.setProgressListener(null);
      assertArrayEquals(ref.codes, q.solve(p.w, ROWS).codes);
    }
  }

  @Test
  void listenerCannotReenterItsQuantizerAndOtherThreadsGetBusy() throws Exception {
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.addBatch(p.xQ, p.xFp);
      List<Throwable> seen = new ArrayList<>();
      q.setProgressListener((phase, done, total) -> {
        if (phase == Phase.SWEEP && seen.isEmpty()) {
          seen.add(assertThrows(GptaqException.class, q::numTokens));
          seen.add(assertThrows(GptaqException.class, q::close));
          Thread t = new Thread(() -> {
            try {
              q.solve(p.w, ROWS);
            } catch (GptaqException ex) {
              synchronized (seen) {
                seen.add(ex);
              }
            }
          });
          t.start();
          try {
            t.join();
          } catch (InterruptedException ex) {
            throw new RuntimeException(ex);
          }
        }
        return true;
      });
      q.solve(p.w, ROWS);
      assertEquals(3, seen.size(), seen.toString());
      for (Throwable t : seen) assertEquals(Status.BUSY, ((GptaqException) t).status(), t.getMessage());
      assertFalse(q.isClosed());
    }
  }

  @Test
  void logListenerReceivesMessages() {
    List<String> lines = new ArrayList<>();
    try (Quantizer q = new Quantizer(COLS, cfg)) {
      q.setLogListener((level, msg) -> lines.add(level + " " + msg));
      q.addBatch(p.xQ, p.xFp);
      q.solve(p.w, ROWS);
      q.solve(p.w, ROWS); // reuses the factorization
      assertFalse(lines.isEmpty(), "no log messages");
      for (String l : lines) assertFalse(l.endsWith("\n"), l);
      int n = lines.size();
      q.setLogListener(null);
      q.solve(p.w, ROWS);
      assertEquals(n, lines.size());
      // an exception from the log listener comes out of the call that logged
      RuntimeException boom = new RuntimeException("log boom");
      q.setLogListener((level, msg) -> {
        throw boom;
      });
      assertSame(boom, assertThrows(RuntimeException.class, () -> q.solve(p.w, ROWS)));
    }
  }
}

package org.gptaq;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import org.junit.jupiter.api.Test;

class ErrorTest {
  static final int COLS = 32;
  final TestSupport.Problem p = new TestSupport.Problem(4, COLS, 64, 7, false);

  @Test
  void wrongShape() {
    try (Quantizer q = new Quantizer(COLS)) {
      GptaqException e = assertThrows(GptaqException.class, () -> q.addBatch(new float[COLS * 3 + 1]));
      assertEquals(Status.SHAPE, e.status());
      assertTrue(e.getMessage().contains("columns = 32"), e.getMessage());
      assertEquals(Status.SHAPE,
          assertThrows(GptaqException.class, () -> q.addBatch(new float[COLS], new float[2 * COLS])).status());
      assertEquals(Status.SHAPE,
          assertThrows(GptaqException.class, () -> q.addBatch(new float[COLS], null, new byte[2])).status());
      q.addBatch(p.xQ);
      e = assertThrows(GptaqException.class, () -> q.solve(new float[4 * COLS - 1], 4));
      assertEquals(Status.SHAPE, e.status());
      // rows <= 0: the library's own check and message
      e = assertThrows(GptaqException.class, () -> q.solve(new float[0], 0));
      assertEquals(Status.SHAPE, e.status());
      assertEquals("rows = 0 must be > 0", e.getMessage());
      assertEquals(64, q.numTokens());
    }
  }

  @Test
  void wrongBufferKinds() {
    try (Quantizer q = new Quantizer(COLS)) {
      FloatBuffer heap = FloatBuffer.wrap(p.xQ);
      IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> q.addBatch(heap, null));
      assertTrue(e.getMessage().contains("direct"), e.getMessage());
      FloatBuffer swapped = ByteBuffer.allocateDirect(COLS * 4)
          .order(ByteOrder.nativeOrder() == ByteOrder.BIG_ENDIAN ? ByteOrder.LITTLE_ENDIAN : ByteOrder.BIG_ENDIAN)
          .asFloatBuffer();
      e = assertThrows(IllegalArgumentException.class, () -> q.addBatch(swapped, null));
      assertTrue(e.getMessage().contains("byte order"), e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> q.addBatch(new short[COLS], null, DType.F32));
      assertThrows(NullPointerException.class, () -> q.addBatch((float[]) null));
      // a direct buffer read from its position: the first token skipped
      FloatBuffer d = TestSupport.directFloats(p.xQ);
      d.position(COLS);
      q.addBatch(d, null);
      assertEquals(63, q.numTokens());
    }
  }

  @Test
  void nanAndInf() {
    try (Quantizer q = new Quantizer(COLS)) {
      q.addBatch(p.xQ);
      float[] bad = p.xQ.clone();
      bad[3 * COLS + 5] = Float.NaN;
      GptaqException e = assertThrows(GptaqException.class, () -> q.addBatch(bad));
      assertEquals(Status.NON_FINITE, e.status());
      assertTrue(e.getMessage().contains("NaN or Inf"), e.getMessage());
      assertEquals(64, q.numTokens());
      float[] w = p.w.clone();
      w[COLS + 2] = Float.POSITIVE_INFINITY;
      e = assertThrows(GptaqException.class, () -> q.solve(w, 4));
      assertEquals(Status.NON_FINITE, e.status());
      assertEquals("weight[1][2] is Inf", e.getMessage());
      assertNotNull(q.solve(p.w, 4)); // still usable
    }
  }

  @Test
  void closedQuantizer() {
    Quantizer q = new Quantizer(COLS);
    q.addBatch(p.xQ);
    q.close();
    assertTrue(q.isClosed());
    q.close(); // idempotent
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> q.addBatch(p.xQ));
    assertTrue(e.getMessage().contains("closed"));
    assertThrows(IllegalStateException.class, () -> q.solve(p.w, 4));
    assertThrows(IllegalStateException.class, q::numTokens);
    assertThrows(IllegalStateException.class, q::config);
    assertThrows(IllegalStateException.class, q::reset);
    assertEquals("Quantizer[closed]", q.toString());
  }

  @Test
  void methodMismatchAndNoData() {
    try (Quantizer q = new Quantizer(COLS)) {
      GptaqException e = assertThrows(GptaqException.class, () -> q.solve(p.w, 4));
      assertEquals(Status.NO_DATA, e.status());
      assertFalse(e.getMessage().isEmpty());
      e = assertThrows(GptaqException.class, () -> q.addBatch(p.xQ, p.xQ));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.getMessage().contains("x_fp was given"), e.getMessage());
    }
    try (Quantizer q = new Quantizer(COLS, new Config().method(Method.GPTAQ))) {
      GptaqException e = assertThrows(GptaqException.class, () -> q.addBatch(p.xQ));
      assertTrue(e.getMessage().contains("x_fp is NULL"), e.getMessage());
    }
    try (Quantizer q = new Quantizer(COLS, new Config().method(Method.RTN))) {
      assertEquals(0.0, q.solve(p.w, 4).loss);
    }
    try (Quantizer q = new Quantizer(COLS)) {
      q.addBatch(p.xQ);
      GptaqException e = assertThrows(GptaqException.class, () -> q.solveBinary(p.w, 4));
      assertEquals(Status.INVALID_ARGUMENT, e.status());
      assertTrue(e.getMessage().contains("uniform quantizer"), e.getMessage());
    }
  }

  @Test
  void busyFromAnotherThread() throws Exception {
    try (Quantizer q = new Quantizer(COLS)) {
      q.addBatch(p.xQ);
      java.lang.reflect.Field f = Quantizer.class.getDeclaredField("lock");
      f.setAccessible(true);
      java.util.concurrent.locks.ReentrantLock lock = (java.util.concurrent.locks.ReentrantLock) f.get(q);
      lock.lock(); // this thread is "inside" a call
      try {
        GptaqException[] seen = new GptaqException[1];
        Thread t = new Thread(() -> {
          try {
            q.solve(p.w, 4);
          } catch (GptaqException e) {
            seen[0] = e;
          }
        });
        t.start();
        t.join();
        assertNotNull(seen[0]);
        assertEquals(Status.BUSY, seen[0].status());
      } finally {
        lock.unlock();
      }
    }
  }

  @Test
  void nullsAreNamedAndNothingChanges() {
    NullPointerException e = assertThrows(NullPointerException.class, () -> new Quantizer(COLS, null));
    assertEquals("config is null", e.getMessage());
    try (Quantizer q = new Quantizer(COLS)) {
      q.addBatch(p.xQ);
      byte[] before = q.stats().serialize();
      e = assertThrows(NullPointerException.class, () -> q.addBatch(new short[COLS], null, null));
      assertEquals("dtype is null", e.getMessage());
      e = assertThrows(NullPointerException.class,
          () -> q.addBatchDirect(TestSupport.directFloats(p.xQ), null, null, null));
      assertEquals("dtype is null", e.getMessage());
      e = assertThrows(NullPointerException.class, () -> q.setConfig(null));
      assertEquals("config is null", e.getMessage());
      e = assertThrows(NullPointerException.class, () -> q.solve((float[]) null, 4));
      assertEquals("weight is null", e.getMessage());
      e = assertThrows(NullPointerException.class, () -> new Config().method(null));
      assertEquals("method is null", e.getMessage());
      e = assertThrows(NullPointerException.class, () -> Gptaq.toHalf(new float[1], null));
      assertEquals("dtype is null", e.getMessage());
      assertThrows(IllegalArgumentException.class, () -> Gptaq.toHalf(new float[1], DType.F32));
      assertThrows(IllegalArgumentException.class, () -> q.addBatch(new short[COLS], null, DType.U8));
      // bad config values: the library's message names the field; the old config stays
      GptaqException g = assertThrows(GptaqException.class, () -> q.setConfig(new Config().bits(1)));
      assertEquals(Status.INVALID_ARGUMENT, g.status());
      assertTrue(g.getMessage().contains("bits"), g.getMessage());
      assertEquals(4, q.config().bits());
      // wrong rows for the weight's length
      g = assertThrows(GptaqException.class, () -> q.solve(p.w, 3));
      assertEquals(Status.SHAPE, g.status());
      assertArrayEquals(before, q.stats().serialize());
    }
  }

  @Test
  void concurrentUseFromTwoThreadsThrowsBusy() throws Exception {
    // Two threads solve on one Quantizer until their calls have overlapped: the one that
    // finds it in use gets BUSY at once (no waiting, no crash); the results that do come
    // back are all the same.
    TestSupport.Problem big = new TestSupport.Problem(64, 256, 512, 13, false);
    try (Quantizer q = new Quantizer(big.cols, new Config().actOrder(true))) {
      q.addBatch(big.xQ);
      short[] want = q.solve(big.w, big.rows).codes;
      java.util.concurrent.atomic.AtomicInteger busy = new java.util.concurrent.atomic.AtomicInteger();
      java.util.concurrent.atomic.AtomicReference<Throwable> other = new java.util.concurrent.atomic.AtomicReference<>();
      long deadline = System.nanoTime() + 20_000_000_000L;
      Runnable work = () -> {
        while (busy.get() == 0 && System.nanoTime() < deadline && other.get() == null) {
          try {
            q.setConfig(new Config().actOrder(true)); // keeps the factor: same answer
            assertArrayEquals(want, q.solve(big.w, big.rows).codes);
          } catch (GptaqException e) {
            if (e.status() == Status.BUSY) busy.incrementAndGet();
            else other.set(e);
          } catch (Throwable t) {
            other.set(t);
          }
        }
      };
      Thread a = new Thread(work), b = new Thread(work);
      a.start();
      b.start();
      a.join();
      b.join();
      assertNull(other.get(), () -> "unexpected: " + other.get());
      assertTrue(busy.get() > 0, "the two threads never overlapped in 20 s");
      assertArrayEquals(want, q.solve(big.w, big.rows).codes); // still usable
    }
  }
}

package dev.steer4j.steering.io;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class VectorSetTest {
    static VectorSet a() {
        return VectorSet.builder()
                .put("transformer.h.1", new float[] {1, 2, 3})
                .put("transformer.h.2", new int[] {2, 3}, new float[] {1, 1, 1, 2, 2, 2})
                .meta("method", "mean_diff")
                .build();
    }

    @Test
    void accessorsAndCopies() {
        VectorSet s = a();
        assertEquals(List.of("transformer.h.1", "transformer.h.2"), s.names());
        assertArrayEquals(new int[] {3}, s.shape("transformer.h.1"));
        assertArrayEquals(new int[] {2, 3}, s.shape("transformer.h.2"));
        assertEquals(3, s.width());
        assertEquals(Map.of("method", "mean_diff"), s.metadata());

        float[] d = s.data("transformer.h.1");
        d[0] = 99;
        assertArrayEquals(new float[] {1, 2, 3}, s.data("transformer.h.1"));
        int[] shape = s.shape("transformer.h.2");
        shape[0] = 7;
        assertArrayEquals(new int[] {2, 3}, s.shape("transformer.h.2"));
        assertThrows(UnsupportedOperationException.class, () -> s.metadata().put("x", "y"));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> s.data("transformer.h.9"));

        float[] src = {4, 5, 6};
        VectorSet t = VectorSet.builder().put("m", src).build();
        src[0] = 0;
        assertArrayEquals(new float[] {4, 5, 6}, t.data("m"));
    }

    @Test
    void sumOverUnion() {
        VectorSet b = VectorSet.builder()
                .put("transformer.h.2", new int[] {2, 3}, new float[] {10, 10, 10, 20, 20, 20})
                .put("transformer.h.0", new float[] {-1, -1, -1})
                .meta("method", "pca")
                .build();
        VectorSet sum = a().plus(b);
        // left operand's order first, then new names; left operand's metadata
        assertEquals(List.of("transformer.h.1", "transformer.h.2", "transformer.h.0"), sum.names());
        assertArrayEquals(new float[] {1, 2, 3}, sum.data("transformer.h.1"));
        assertArrayEquals(new float[] {11, 11, 11, 22, 22, 22}, sum.data("transformer.h.2"));
        assertArrayEquals(new float[] {-1, -1, -1}, sum.data("transformer.h.0"));
        assertEquals("mean_diff", sum.metadata().get("method"));
        assertEquals(a(), a().plus(VectorSet.builder().build()));
    }

    @Test
    void scaleAndNegate() {
        VectorSet s = a().scale(-0.5);
        assertArrayEquals(new float[] {-0.5f, -1, -1.5f}, s.data("transformer.h.1"));
        assertArrayEquals(new float[] {-0.5f, -0.5f, -0.5f, -1, -1, -1}, s.data("transformer.h.2"));
        assertEquals(a().metadata(), s.metadata());
        VectorSet n = a().negate();
        assertArrayEquals(new float[] {-1, -2, -3}, n.data("transformer.h.1"));
        assertEquals(a(), n.negate());
        // x + (-x) = 0 exactly
        for (float f : a().plus(a().negate()).data("transformer.h.2")) {
            assertEquals(0f, f);
        }
        // scale rounds once from double: 0.1f * 3 is the float nearest the exact product
        VectorSet t = VectorSet.builder().put("m", new float[] {0.1f}).build().scale(3);
        assertEquals((float) (0.1f * 3.0), t.data("m")[0]);
    }

    @Test
    void mismatchedShapesRejected() {
        VectorSet b = VectorSet.builder().put("transformer.h.2", new float[] {1, 2, 3}).build();
        dev.steer4j.InvalidInputException e = assertThrows(dev.steer4j.InvalidInputException.class, () -> a().plus(b));
        assertTrue(e.getMessage().contains("transformer.h.2"), e.getMessage());
        // different widths under different names are rejected too: one set steers one model
        VectorSet c = VectorSet.builder().put("transformer.h.7", new float[] {1, 2}).build();
        assertThrows(dev.steer4j.InvalidInputException.class, () -> a().plus(c));
    }

    @Test
    void builderValidates() {
        VectorSet.Builder b = VectorSet.builder();
        assertThrows(dev.steer4j.InvalidInputException.class, () -> b.put("x", new int[] {1, 1, 3}, new float[3]));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> b.put("x", new int[] {}, new float[1]));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> b.put("x", new int[] {2, 3}, new float[5]));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> b.put("x", new int[] {0, 3}, new float[0]));
        assertThrows(dev.steer4j.InvalidInputException.class, () -> b.put("", new float[3]));
        assertThrows(dev.steer4j.InvalidInputException.class,
                () -> VectorSet.builder().put("x", new float[3]).put("y", new float[4]).build());
        assertThrows(IllegalStateException.class, () -> VectorSet.builder().build().width());
    }

    @Test
    void equalityIsByValue() {
        assertEquals(a(), a());
        assertEquals(a().hashCode(), a().hashCode());
        assertNotEquals(a(), a().scale(2));
        assertNotEquals(a(), VectorSet.builder().metadata(a().metadata()).build());
    }
}

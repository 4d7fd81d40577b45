package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.Steer4jException;
import dev.steer4j.safetensors.SafetensorsException;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The CLI maps the library's bad-input exceptions to exit 2 and everything else, IllegalArgumentException included, to 1. */
class FailuresTest {
    static int code(Throwable t, StringBuilder message) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int c = Failures.report(t, new PrintStream(err, true, StandardCharsets.UTF_8));
        message.append(err.toString(StandardCharsets.UTF_8));
        return c;
    }

    @Test
    void badInputIsTwoBugsAreOne() {
        StringBuilder m = new StringBuilder();
        assertEquals(2, code(new InvalidInputException("vector width 16 does not match"), m));
        assertEquals("steer4j: vector width 16 does not match\n", m.toString());
        assertEquals(2, code(new SafetensorsException("bad header"), new StringBuilder()));
        assertTrue(new SafetensorsException("x") instanceof Steer4jException, "the library's exceptions share a base");
        m.setLength(0);
        assertEquals(1, code(new IllegalArgumentException("index 3 out of range"), m));
        assertTrue(m.toString().startsWith("steer4j: internal error: IllegalArgumentException"), m.toString());
        assertEquals(1, code(new IllegalStateException("closed"), new StringBuilder()));
    }
}

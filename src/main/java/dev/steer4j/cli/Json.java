package dev.steer4j.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintStream;
import java.io.UncheckedIOException;

/** JSON on stdout: one object per run, one line. float[] values are written as float32, so they round-trip. */
final class Json {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    private Json() {}

    static void print(PrintStream out, Object value) {
        out.println(write(value));
        out.flush();
    }

    /** Also used to quote token text in human output (escapes newlines and control characters). */
    static String write(Object value) {
        try {
            return MAPPER.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new UncheckedIOException(e);
        }
    }
}

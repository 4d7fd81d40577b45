package dev.steer4j.profile;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import dev.steer4j.InvalidInputException;
import dev.steer4j.io.OutputFiles;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * steer4j's own timeline of a run — tokenize, prefill, each decode step, sampling, steering updates — written
 * as Chrome / Perfetto trace JSON ({@code "ph": "X"} complete events, microseconds). Recording is off unless
 * a profiler is started on the thread; then a span costs two {@code nanoTime} calls.
 *
 * <p>The same spans are NVTX ranges when a tool attaches through NVTX (Nsight Systems: {@code nsys profile
 * steer4j …}), with or without a trace file; see {@link Nvtx}.
 *
 * <p>libtorch's own profiler is not exposed by the presets in a usable form, so this is the timeline.
 */
public final class Profiler {
    private static final ThreadLocal<Profiler> CURRENT = new ThreadLocal<>();
    private static final Span NONE = () -> {};

    private final long origin = System.nanoTime();
    private final List<Map<String, Object>> events = new ArrayList<>();

    /** A timed phase; close it to record it. */
    public interface Span extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * What {@code --profile} may replace: a JSON trace, as Chrome and Perfetto read one: an object with
     * {@code traceEvents} (what this class writes), or an array of event objects. Read as a stream, stopping
     * at the answer.
     */
    public static final OutputFiles.Kind TRACE = new OutputFiles.Kind() {
        @Override public String description() { return "a JSON trace (an object with traceEvents)"; }

        @Override public boolean matches(Path file) { return isTrace(file); }
    };

    private Profiler() {}

    static boolean isTrace(Path file) {
        try (JsonParser p = new ObjectMapper().getFactory().createParser(file.toFile())) {
            JsonToken t = p.nextToken();
            if (t == JsonToken.START_ARRAY) {
                t = p.nextToken();
                if (t == JsonToken.END_ARRAY) return true;
                if (t != JsonToken.START_OBJECT) return false;
                while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                    if (p.currentName().equals("ph")) return true;
                    p.nextToken();
                    p.skipChildren();
                }
                return false;
            }
            if (t != JsonToken.START_OBJECT) return false;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String name = p.currentName();
                t = p.nextToken();
                if (name.equals("traceEvents")) return t == JsonToken.START_ARRAY;
                p.skipChildren();
            }
            return false;
        } catch (IOException e) {
            return false; // not JSON
        }
    }

    /** Starts recording on this thread. */
    public static Profiler start() {
        Profiler p = new Profiler();
        CURRENT.set(p);
        return p;
    }

    /** Opens a span on this thread's profiler, or a no-op when none is recording. */
    public static Span span(String name) {
        Profiler p = CURRENT.get();
        if (!Nvtx.ACTIVE) {
            if (p == null) return NONE;
            long begin = System.nanoTime();
            return () -> p.record(name, begin, System.nanoTime());
        }
        Nvtx.nvtxRangePushA(name);
        long begin = System.nanoTime();
        return () -> {
            long end = System.nanoTime();
            Nvtx.nvtxRangePop();
            if (p != null) p.record(name, begin, end);
        };
    }

    private synchronized void record(String name, long begin, long end) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("name", name);
        e.put("cat", "steer4j");
        e.put("ph", "X");
        e.put("ts", (begin - origin) / 1000.0);
        e.put("dur", (end - begin) / 1000.0);
        e.put("pid", 1);
        e.put("tid", Thread.currentThread().getId());
        events.add(e);
    }

    /** Stops recording on this thread and writes the trace atomically. */
    public void stopAndWrite(Path file) {
        CURRENT.remove();
        Map<String, Object> trace = new LinkedHashMap<>();
        trace.put("traceEvents", events);
        trace.put("displayTimeUnit", "ms");
        try {
            dev.steer4j.io.AtomicFiles.write(file, tmp -> new ObjectMapper().writeValue(tmp.toFile(), trace));
        } catch (IOException e) {
            throw new InvalidInputException("cannot write profile " + file + ": " + dev.steer4j.io.IoErrors.reason(e));
        }
    }
}

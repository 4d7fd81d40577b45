package dev.steer4j.batch;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.io.IoErrors;
import dev.steer4j.io.OutputFiles;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashSet;
import java.util.Set;

/**
 * A job's output: one JSON record per line, appended whole with one write each and never rewritten, so
 * a job killed at any moment (kill -9 included) leaves complete lines and at most one torn last line.
 * Reopening it reads the ids already there, cuts a torn last line off and drops a damaged line (keeping every
 * valid one), so a rerun writes each id once.
 */
public final class ResultLog implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path file;
    private FileChannel channel;
    private final Set<String> done = new HashSet<>();
    private final Set<Long> doneLines = new HashSet<>();
    private long errors;

    /**
     * What {@code batch --out} may be when it exists: a results file, that is a file with at least one record
     * line, as {@link #open} resumes it (damaged lines beside records are fine: open drops them). Reads up to the
     * first record; a line longer than 64 MiB is no record.
     */
    public static final OutputFiles.Kind KIND = new OutputFiles.Kind() {
        @Override public String description() { return "a steer4j results file (no result record in it)"; }

        @Override public boolean matches(Path file) throws IOException { return hasRecord(file); }
    };

    private static final int MAX_RECORD_BYTES = 64 << 20;

    static boolean hasRecord(Path file) throws IOException {
        boolean[] found = {false};
        forEachLine(file, MAX_RECORD_BYTES, line -> !(found[0] = line != null && isRecord(line))); // a torn last line is no record
        return found[0];
    }

    /** Told each complete line of a file; returns false to stop. */
    private interface LineVisitor {
        boolean visit(byte[] line) throws IOException;
    }

    /**
     * Streams {@code file}'s complete lines (without their {@code '\n'}) to {@code visitor}, a line longer than
     * {@code maxBytes} as null, until it returns false. Returns how many bytes follow the last {@code '\n'} (a torn
     * last line), or -1 when the visitor stopped.
     */
    private static long forEachLine(Path file, int maxBytes, LineVisitor visitor) throws IOException {
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            long pending = 0;
            for (int c = in.read(); c >= 0; c = in.read()) {
                if (c != '\n') {
                    if (pending++ < maxBytes) line.write(c);
                    continue;
                }
                if (!visitor.visit(pending <= maxBytes ? line.toByteArray() : null)) return -1;
                line.reset();
                pending = 0;
            }
            return pending;
        }
    }

    private static boolean isRecord(byte[] bytes) {
        try {
            return isRecord(JSON.readTree(bytes));
        } catch (IOException e) {
            return false;
        }
    }

    /** A result record has an id; an error record of a line without one has its line number. */
    private static boolean isRecord(JsonNode node) {
        return node != null && node.isObject() && (node.hasNonNull("id") || node.has("line"));
    }

    private ResultLog(Path file, FileChannel channel) {
        this.file = file;
        this.channel = channel;
    }

    /**
     * Opens (or creates) {@code file} for appending, after reading which requests it already holds. A damaged
     * line loses only itself: the valid records around it are kept (the file is rewritten without it, atomically)
     * and its request runs again. A torn last line (a kill mid-write) is cut off. A file with content but no
     * record at all is not a results file, and is refused untouched.
     */
    public static ResultLog open(Path file) {
        if (Files.isDirectory(file)) throw new InvalidInputException("output " + file + " is a directory");
        try {
            ResultLog log = new ResultLog(file, FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE));
            try {
                log.recover();
                return log;
            } catch (IOException | RuntimeException e) {
                log.channel.close(); // a no-op if recover closed it
                throw e;
            }
        } catch (IOException e) {
            throw new InvalidInputException("cannot open " + file + ": " + IoErrors.reason(e), e);
        }
    }

    /**
     * Reads every complete line's id (or line number, for error records without one), streaming: a results file
     * may be far larger than the heap.
     */
    private void recover() throws IOException {
        long[] keptBytes = {0};
        int[] kept = {0};
        int[] damaged = {0};
        boolean tornTail = forEachLine(file, Integer.MAX_VALUE, line -> {
            if (remember(line)) {
                kept[0]++;
                keptBytes[0] += line.length + 1;
            } else {
                damaged[0]++;
            }
            return true;
        }) > 0;
        if (kept[0] == 0 && (damaged[0] > 0 || tornTail)) {
            channel.close();
            throw new InvalidInputException("output " + file + " exists and is not a steer4j results file (no result record"
                    + " in it): give a new path, or the results file of this job to resume it");
        }
        if (damaged[0] > 0) {
            // the records alone rewritten, then swapped in: a kill now leaves the old file or the new one, never a mix
            channel.close();
            dev.steer4j.io.AtomicFiles.write(file, tmp -> {
                try (var out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp, StandardOpenOption.WRITE,
                        StandardOpenOption.TRUNCATE_EXISTING), 1 << 16)) {
                    forEachLine(file, Integer.MAX_VALUE, line -> {
                        if (isRecord(line)) {
                            out.write(line);
                            out.write('\n');
                        }
                        return true;
                    });
                }
            });
            channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } else if (tornTail) {
            channel.truncate(keptBytes[0]); // a line torn by a kill is never half there
        }
        channel.position(keptBytes[0]);
    }

    private boolean remember(byte[] bytes) {
        try {
            JsonNode node = JSON.readTree(bytes);
            if (!isRecord(node)) return false;
            if (node.hasNonNull("id")) done.add(node.get("id").asText());
            else doneLines.add(node.get("line").asLong());
            if (node.has("error")) errors++;
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /** Whether a request with this id, or a bad line with this number, is already recorded. */
    public boolean has(String id) {
        return id != null && done.contains(id);
    }

    public boolean hasLine(long line) {
        return doneLines.contains(line);
    }

    public int recorded() {
        return done.size() + doneLines.size();
    }

    /** Error records found when the log was opened. */
    public long errors() {
        return errors;
    }

    /** Appends one record as one line with one write, then flushes it to the file. */
    public void append(Object record) {
        byte[] bytes;
        try {
            bytes = (JSON.writeValueAsString(record) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalStateException("cannot encode a result record", e);
        }
        long before = -1;
        try {
            before = channel.position();
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) channel.write(b);
        } catch (IOException e) {
            try {
                if (before >= 0) channel.truncate(before); // no torn line left behind (a full disk)
            } catch (IOException ignored) {
                // the next run cuts it off instead
            }
            throw new InvalidInputException("cannot write " + file + ": " + IoErrors.reason(e), e);
        }
    }

    @Override
    public void close() {
        try {
            channel.force(false);
            channel.close();
        } catch (IOException e) {
            throw new InvalidInputException("cannot finish writing " + file + ": " + IoErrors.reason(e), e);
        }
    }
}

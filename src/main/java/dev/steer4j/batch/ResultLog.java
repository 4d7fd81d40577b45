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
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
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
        try (InputStream in = new BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            ByteArrayOutputStream line = new ByteArrayOutputStream();
            boolean tooLong = false;
            for (int c = in.read(); c >= 0; c = in.read()) {
                if (c != '\n') {
                    if (line.size() < MAX_RECORD_BYTES) line.write(c);
                    else tooLong = true;
                    continue;
                }
                if (!tooLong && isRecord(line.toByteArray())) return true;
                line.reset();
                tooLong = false;
            }
            return false; // a torn last line is no record
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

    /** Reads every complete line's id (or line number, for error records without one). */
    private void recover() throws IOException {
        byte[] all = Files.readAllBytes(file);
        List<byte[]> kept = new ArrayList<>();
        long keptBytes = 0;
        int damaged = 0;
        int start = 0;
        for (int i = 0; i < all.length; i++) {
            if (all[i] != '\n') continue;
            byte[] line = Arrays.copyOfRange(all, start, i + 1);
            if (remember(Arrays.copyOf(line, line.length - 1))) {
                kept.add(line);
                keptBytes += line.length;
            } else {
                damaged++;
            }
            start = i + 1;
        }
        boolean tornTail = start < all.length;
        if (kept.isEmpty() && (damaged > 0 || tornTail)) {
            channel.close();
            throw new InvalidInputException("output " + file + " exists and is not a steer4j results file (no result record"
                    + " in it): give a new path, or the results file of this job to resume it");
        }
        if (damaged > 0) {
            // rewritten whole, then swapped in: a kill now leaves the old file or the new one, never a mix
            channel.close();
            dev.steer4j.io.AtomicFiles.write(file, tmp -> {
                try (var out = Files.newOutputStream(tmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                    for (byte[] line : kept) out.write(line);
                }
            });
            channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE);
        } else if (tornTail) {
            channel.truncate(keptBytes); // a line torn by a kill is never half there
        }
        channel.position(keptBytes);
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

package dev.steer4j.batch;

import dev.steer4j.InvalidInputException;
import dev.steer4j.io.IoErrors;
import dev.steer4j.io.OutputFiles;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Request;
import dev.steer4j.request.json.RequestReader;
import dev.steer4j.request.Result;
import dev.steer4j.ResultSink;
import dev.steer4j.RunStats;
import dev.steer4j.Session;
import dev.steer4j.steering.SteerSpec;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.OptionalInt;
import java.util.Set;

/**
 * A resumable batch job: request lines in (streamed), one result or error record per line out (appended
 * as each finishes, see {@link ResultLog}), all through one continuous-batching engine. A rerun with the
 * same output skips what is already there. A bad line becomes an error record and the job goes on.
 */
public final class ResumableBatch {
    /**
     * {@code staticBatches}: instead of the engine, run the requests in consecutive static batches of
     * {@code maxBatch} (one left-padded batch each, as {@code generate --requests} does): the baseline the
     * batch benchmark compares against. {@code tokenBudget}: the engine's chunked prefill (0: none; empty: the
     * session's default).
     */
    public record Options(Path in, Path out, int maxBatch, List<SteerSpec> steer, int maxNewTokens, Sampling sampling,
                          boolean staticBatches, OptionalInt tokenBudget) {}

    /** What a run did: requests completed, bad lines, lines already in the output, and token counts. */
    public record Summary(long requests, long errors, long skipped, long earlierErrors, long promptTokens,
                          long newTokens, double seconds, Map<String, Object> engine) {
        public double tokensPerSecond() {
            return seconds > 0 ? newTokens / seconds : 0;
        }

        public Map<String, Object> toMap() {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("requests", requests);
            m.put("errors", errors);
            m.put("skipped", skipped);
            m.put("earlier_errors", earlierErrors);
            m.put("prompt_tokens", promptTokens);
            m.put("new_tokens", newTokens);
            m.put("seconds", seconds);
            m.put("tokens_per_s", tokensPerSecond());
            m.put("engine", engine);
            return m;
        }
    }

    /** Told the total once (-1 when the input cannot be counted) and after each request finishes. */
    public interface Progress {
        void start(long total);

        void update(long finished, long newTokens, double seconds);

        Progress NONE = new Progress() {
            @Override public void start(long total) {}

            @Override public void update(long finished, long newTokens, double seconds) {}
        };
    }

    private ResumableBatch() {}

    public static Summary run(Session session, Options o, Progress progress) {
        // the file rule of every output (OutputFiles); that the output is a results file is ResultLog's to say
        OutputFiles.requireDistinct(new OutputFiles.Named("output", o.out()), List.of(new OutputFiles.Named("input", o.in())));
        // not requireFile: a pipe is a fine input (the job streams it)
        if (Files.isDirectory(o.in())) throw new InvalidInputException("input " + o.in() + " is a directory, not a file");
        if (!Files.exists(o.in())) throw new InvalidInputException("input not found: " + o.in());
        RequestReader reader = new RequestReader(java.util.Arrays.asList(o.in().toAbsolutePath().getParent()), o.steer(), o.maxNewTokens(), o.sampling());
        long start = System.nanoTime();
        // the engine first: one that does not fit in memory is refused before the output is created
        int tokenBudget = o.tokenBudget().orElseGet(() -> session.defaultTokenBudget(o.maxBatch()));
        session.prepare(o.maxBatch(), tokenBudget);
        try (ResultLog log = ResultLog.open(o.out());
             InputStream in = Files.newInputStream(o.in());
             LineReader lines = new LineReader(in)) {
            long earlierErrors = log.errors();
            progress.start(countable(o.in()) ? Math.max(0, countLines(o.in()) - log.recorded()) : -1);
            Counts counts = new Counts();
            Requests source = new Requests(lines, reader, log, counts);
            ResultSink sink = new ResultSink() {
                @Override
                public void completed(Result r) {
                    source.lineOf(r.id());
                    log.append(resultRecord(r));
                    counts.requests++;
                    counts.promptTokens += r.ids().length;
                    counts.newTokens += r.newIds().length;
                    progress.update(counts.requests + counts.errors, counts.newTokens, seconds(start));
                }

                @Override
                public void failed(Request r, String message) {
                    log.append(errorRecord(r.id(), source.lineOf(r.id()), message));
                    counts.errors++;
                    progress.update(counts.requests + counts.errors, counts.newTokens, seconds(start));
                }
            };
            Map<String, Object> engine = Map.of();
            if (o.staticBatches()) runStatic(session, source, o.maxBatch(), sink);
            else engine = statsMap(session.run(source, o.maxBatch(), tokenBudget, sink));
            return new Summary(counts.requests, counts.errors, counts.skipped, earlierErrors, counts.promptTokens,
                    counts.newTokens, seconds(start), engine);
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + o.in() + ": " + IoErrors.reason(e), e);
        }
    }

    /**
     * Consecutive static batches of {@code size}: every row of a batch waits for its longest. Requests are
     * checked first (the engine does that itself), so a bad one fails alone, not its batch.
     */
    private static void runStatic(Session session, Iterator<Request> source, int size, ResultSink sink) {
        List<Request> chunk = new java.util.ArrayList<>();
        while (source.hasNext() || !chunk.isEmpty()) {
            if (source.hasNext() && chunk.size() < size) {
                Request r = source.next();
                try {
                    session.check(r);
                    chunk.add(r);
                } catch (InvalidInputException e) {
                    sink.failed(r, e.getMessage());
                }
                continue;
            }
            try {
                for (Result r : session.run(chunk)) sink.completed(r);
            } catch (InvalidInputException e) { // one bad row spoils its static batch: that is the baseline's way
                for (Request r : chunk) sink.failed(r, e.getMessage());
            }
            chunk.clear();
        }
    }

    private static Map<String, Object> statsMap(RunStats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("token_budget", s.tokenBudget());
        m.put("prefills", s.prefills());
        m.put("prefill_seconds", s.prefillSeconds());
        m.put("decode_steps", s.decodeSteps());
        m.put("decode_seconds", s.decodeSeconds());
        m.put("model_flops", s.modelFlops());
        m.put("achieved_gflops", s.achievedGflops());
        return m;
    }

    private static final class Counts {
        long requests;
        long errors;
        long skipped;
        long promptTokens;
        long newTokens;
    }

    /**
     * The requests of the input, parsed as the engine asks for them; lines that do not parse are written as
     * error records on the way (the engine checks the rest against the model), and lines already in the
     * output are skipped.
     */
    private static final class Requests implements Iterator<Request> {
        private final LineReader lines;
        private final RequestReader reader;
        private final ResultLog log;
        private final Counts counts;
        private final Set<String> seen = new HashSet<>();
        private final Map<String, Long> lineOf = new java.util.HashMap<>(); // requests in flight only
        private Request next;
        private boolean ended;

        Requests(LineReader lines, RequestReader reader, ResultLog log, Counts counts) {
            this.lines = lines;
            this.reader = reader;
            this.log = log;
            this.counts = counts;
        }

        /** The line of a request in flight, forgotten once asked (it has finished). */
        long lineOf(String id) {
            Long n = lineOf.remove(id);
            return n == null ? -1 : n;
        }

        @Override
        public boolean hasNext() {
            while (next == null && !ended) advance();
            return next != null;
        }

        @Override
        public Request next() {
            if (!hasNext()) throw new NoSuchElementException();
            Request r = next;
            next = null;
            return r;
        }

        private void advance() {
            LineReader.Line line;
            try {
                line = lines.next();
            } catch (IOException e) {
                throw new InvalidInputException("cannot read the input: " + IoErrors.reason(e), e);
            }
            if (line == null) {
                ended = true;
                return;
            }
            if (line.text() != null && line.text().isBlank()) return;
            if (log.hasLine(line.number())) {
                counts.skipped++;
                return;
            }
            String id = null;
            try {
                if (line.text() == null) throw new InvalidInputException("not valid UTF-8 text");
                Request r = reader.parse(line.text(), Long.toString(line.number()));
                id = r.id();
                if (log.has(id)) {
                    counts.skipped++;
                    seen.add(id);
                    return;
                }
                if (!seen.add(id)) {
                    // keyed by line, not id: the first line with this id is still owed its result
                    log.append(errorRecord(null, line.number(), "duplicate id \"" + id + "\""));
                    counts.errors++;
                    return;
                }
                lineOf.put(id, line.number());
                next = r;
            } catch (InvalidInputException e) {
                log.append(errorRecord(id, line.number(), e.getMessage()));
                counts.errors++;
            }
        }
    }

    static Map<String, Object> resultRecord(Result r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", r.id());
        m.put("prompt", r.prompt());
        m.put("new_ids", r.newIds());
        m.put("text", r.text());
        m.put("finish_reason", r.finishReason().wireName());
        m.put("prompt_tokens", r.ids().length);
        m.put("new_tokens", r.newIds().length);
        return m;
    }

    static Map<String, Object> errorRecord(String id, long line, String message) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (id != null) m.put("id", id);
        if (line > 0) m.put("line", line);
        m.put("error", message);
        return m;
    }

    private static boolean countable(Path in) {
        return Files.isRegularFile(in);
    }

    /** Counts lines without holding them: the progress total. */
    private static long countLines(Path in) throws IOException {
        long n = 0;
        try (InputStream s = new java.io.BufferedInputStream(Files.newInputStream(in), 1 << 16)) {
            int c;
            int last = '\n';
            while ((c = s.read()) >= 0) {
                if (c == '\n') n++;
                last = c;
            }
            if (last != '\n') n++;
        }
        return n;
    }

    private static double seconds(long start) {
        return (System.nanoTime() - start) / 1e9;
    }
}

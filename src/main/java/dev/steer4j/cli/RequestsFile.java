package dev.steer4j.cli;

import dev.steer4j.InvalidInputException;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Request;
import dev.steer4j.request.json.RequestReader;
import dev.steer4j.session.SteeringSession;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * {@code --requests FILE.jsonl}: one request object per line (see {@link RequestReader}), every line read and
 * checked against the model before any work; a bad line is an error naming its line number.
 */
final class RequestsFile {
    @Option(names = "--requests", paramLabel = "FILE.jsonl",
            description = "one JSON request per line instead of --prompt: {\"id\", \"prompt\", \"steer\": [{\"file\","
                    + " \"coef\", \"positions\", \"module\"}], \"max_new_tokens\", \"greedy\" | \"temperature\", \"top_k\","
                    + " \"top_p\", \"seed\"}; each row of the batch runs with its own steering")
    Path file;

    boolean given() {
        return file != null;
    }

    /** Exactly one of {@code --prompt} and {@code --requests}. */
    void checkExclusive(List<String> prompts) {
        boolean hasPrompts = prompts != null && !prompts.isEmpty();
        if (hasPrompts == given()) {
            throw new InvalidInputException(given() ? "give --prompt or --requests, not both" : "give --prompt P (repeatable) or --requests FILE.jsonl");
        }
    }

    /** Every request of the file, checked on {@code session}; lines without steer, limit or sampling get the flags'. */
    List<Request> read(SteeringSession session, SteerOptions steer, int maxNewTokens, Sampling sampling) {
        if (!Files.isRegularFile(file)) {
            throw new InvalidInputException("--requests " + file + ": " + (Files.isDirectory(file) ? "is a directory" : "no such file"));
        }
        Path base = file.toAbsolutePath().getParent();
        RequestReader reader = new RequestReader(java.util.Arrays.asList(base), steer.specsForRequests(), maxNewTokens, sampling);
        List<Request> out = new ArrayList<>();
        Map<String, Integer> seen = new HashMap<>();
        int lineNumber = 0;
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            for (String line = in.readLine(); line != null; line = in.readLine()) {
                lineNumber++;
                if (line.isBlank()) continue;
                try {
                    Request r = reader.parse(line, Integer.toString(lineNumber));
                    Integer first = seen.putIfAbsent(r.id(), lineNumber);
                    if (first != null) throw new InvalidInputException("duplicate id \"" + r.id() + "\" (first on line " + first + ")");
                    session.check(r);
                    out.add(r);
                } catch (InvalidInputException e) {
                    throw new InvalidInputException(file + " line " + lineNumber + ": " + e.getMessage(), e);
                }
            }
        } catch (CharacterCodingException e) {
            throw new InvalidInputException(file + " line " + (lineNumber + 1) + ": not valid UTF-8 text");
        } catch (IOException e) {
            throw new InvalidInputException("cannot read " + file + ": " + e, e);
        }
        if (out.isEmpty()) throw new InvalidInputException(file + " has no requests");
        return out;
    }
}

package dev.steer4j.request.json;

import dev.steer4j.request.Steer;
import dev.steer4j.request.Request;
import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Positions;
import dev.steer4j.steering.SteerSpec;
import dev.steer4j.steering.VectorFiles;
import dev.steer4j.steering.io.VectorSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads request objects, one JSON object per line:
 * {@code {"id": "r1", "prompt": "…", "steer": [{"file": "love.safetensors", "coef": 10, "positions": "all",
 * "module": "transformer.h.5"}], "max_new_tokens": 10, "greedy": true}} — {@code steer}, {@code module} and
 * the limits optional; sampling by {@code temperature}, {@code top_k}, {@code top_p}, {@code seed}. A
 * {@code steer} entry means exactly what {@code --steer FILE*COEF@POSITIONS} means. Each vector file is read
 * once. Relative paths resolve against the working directory, then against each of {@code bases} (the requests
 * file's folder).
 */
public final class RequestReader {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> FIELDS = Set.of("id", "prompt", "steer", "max_new_tokens", "greedy", "temperature",
            "top_k", "top_p", "seed");
    private static final Set<String> STEER_FIELDS = Set.of("file", "coef", "positions", "module");

    private final List<Path> bases;
    private final List<Steer> defaultSteer;
    private final int defaultMaxNewTokens;
    private final Sampling defaultSampling;
    private final Map<Path, VectorSet> files = new HashMap<>();

    /** Lines without {@code steer}, {@code max_new_tokens} or sampling fields get these. */
    public RequestReader(List<Path> bases, List<SteerSpec> defaultSteer, int defaultMaxNewTokens, Sampling defaultSampling) {
        this.bases = bases.stream().filter(java.util.Objects::nonNull).toList();
        List<Steer> entries = new ArrayList<>();
        for (SteerSpec spec : defaultSteer) entries.addAll(entries(spec.file(), spec.coefficient(), spec.positions(), null));
        this.defaultSteer = List.copyOf(entries);
        this.defaultMaxNewTokens = defaultMaxNewTokens;
        this.defaultSampling = defaultSampling;
    }

    /** The entries {@code --steer FILE*COEF@POSITIONS} stands for (every module of the file, or {@code module}). */
    public List<Steer> entries(Path file, double coefficient, Positions where, String module) {
        Path resolved = resolve(file);
        VectorSet set = files.computeIfAbsent(resolved, VectorFiles::read);
        List<Steer> out = new ArrayList<>();
        for (String m : SteerSpec.modules(set, file, where, module)) {
            out.add(new Steer(m, set.data(m), coefficient, where));
        }
        return out;
    }

    /** One line's request; {@code defaultId} when it gives no {@code id}. */
    public Request parse(String line, String defaultId) {
        JsonNode node;
        try {
            node = JSON.readTree(line);
        } catch (JsonProcessingException e) {
            throw new InvalidInputException("not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) throw new InvalidInputException("a request must be a JSON object");
        unknownFields(node, FIELDS, "request");
        String id = defaultId;
        if (node.has("id")) {
            JsonNode v = node.get("id");
            if (!v.isTextual() && !v.isIntegralNumber()) throw new InvalidInputException("\"id\" must be a string or an integer");
            id = v.asText();
        }
        JsonNode prompt = node.get("prompt");
        if (prompt == null || !prompt.isTextual()) throw new InvalidInputException("\"prompt\" (a string) is required");
        int maxNewTokens = node.has("max_new_tokens") ? integer(node, "max_new_tokens", 0) : defaultMaxNewTokens;
        List<Steer> steer = node.has("steer") ? steer(node.get("steer")) : defaultSteer;
        return new Request(id, prompt.textValue(), steer, maxNewTokens, sampling(node));
    }

    private List<Steer> steer(JsonNode list) {
        if (!list.isArray()) throw new InvalidInputException("\"steer\" must be a list of {\"file\", \"coef\", \"positions\", \"module\"}");
        List<Steer> out = new ArrayList<>();
        for (JsonNode e : list) {
            if (!e.isObject()) throw new InvalidInputException("each \"steer\" entry must be an object");
            unknownFields(e, STEER_FIELDS, "steer entry");
            JsonNode file = e.get("file");
            if (file == null || !file.isTextual() || file.textValue().isEmpty()) {
                throw new InvalidInputException("a \"steer\" entry needs \"file\" (a path)");
            }
            double coef = 1.0;
            if (e.has("coef")) {
                if (!e.get("coef").isNumber()) throw new InvalidInputException("\"coef\" must be a number");
                coef = e.get("coef").asDouble();
                if (!Double.isFinite(coef)) throw new InvalidInputException("\"coef\" must be finite");
            }
            Positions where = Positions.ALL;
            if (e.has("positions")) {
                if (!e.get("positions").isTextual()) throw new InvalidInputException("\"positions\" must be a string such as \"all\"");
                where = Positions.parse(e.get("positions").textValue());
            }
            String module = null;
            if (e.has("module")) {
                if (!e.get("module").isTextual()) throw new InvalidInputException("\"module\" must be a string");
                module = e.get("module").textValue();
            }
            out.addAll(entries(Path.of(file.textValue()), coef, where, module));
        }
        return out;
    }

    private Sampling sampling(JsonNode node) {
        boolean sampled = node.has("temperature") || node.has("top_k") || node.has("top_p") || node.has("seed");
        if (node.has("greedy") && !node.get("greedy").isBoolean()) throw new InvalidInputException("\"greedy\" must be true or false");
        boolean greedy = node.has("greedy") && node.get("greedy").booleanValue();
        if (greedy && sampled) throw new InvalidInputException("\"greedy\": true cannot be combined with temperature, top_k, top_p or seed");
        if (greedy) return Sampling.GREEDY;
        if (!sampled) {
            return node.has("greedy") ? Sampling.sample(1.0, 0, 1.0, 0) : defaultSampling;
        }
        return Sampling.sample(number(node, "temperature", 1.0), node.has("top_k") ? integer(node, "top_k", 0) : 0,
                number(node, "top_p", 1.0), node.has("seed") ? longValue(node, "seed") : 0);
    }

    private Path resolve(Path file) {
        if (file.isAbsolute() || Files.exists(file)) return file;
        for (Path base : bases) {
            Path beside = base.resolve(file);
            if (Files.exists(beside)) return beside;
        }
        return file;
    }

    private static void unknownFields(JsonNode node, Set<String> known, String what) {
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!known.contains(f)) {
                throw new InvalidInputException("unknown " + what + " field \"" + f + "\" (known: " + String.join(", ", new java.util.TreeSet<>(known)) + ")");
            }
        }
    }

    private static int integer(JsonNode node, String field, int min) {
        JsonNode v = node.get(field);
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < min) {
            throw new InvalidInputException("\"" + field + "\" must be an integer >= " + min + ", got " + v);
        }
        return v.intValue();
    }

    private static long longValue(JsonNode node, String field) {
        JsonNode v = node.get(field);
        if (!v.isIntegralNumber() || !v.canConvertToLong()) throw new InvalidInputException("\"" + field + "\" must be an integer, got " + v);
        return v.longValue();
    }

    private static double number(JsonNode node, String field, double fallback) {
        if (!node.has(field)) return fallback;
        JsonNode v = node.get(field);
        if (!v.isNumber()) throw new InvalidInputException("\"" + field + "\" must be a number, got " + v);
        return v.doubleValue();
    }
}

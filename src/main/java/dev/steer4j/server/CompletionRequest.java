package dev.steer4j.server;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.InvalidInputException;
import dev.steer4j.request.Positions;
import dev.steer4j.request.Request;
import dev.steer4j.request.Steer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * One {@code POST /v1/completions} body in OpenAI's schema, read into steer4j requests: one per prompt and choice
 * ({@code n}), in OpenAI's order (prompt-major). Unknown fields are ignored, as OpenAI's clients expect; a field
 * that cannot be honoured (logprobs, echo, best_of, suffix, penalties, logit_bias, token-id prompts) is a 400
 * naming it. {@code steer} is steer4j's own field: a list of named vectors of the server's folder or inline
 * vectors; absent, the server's {@code --steer} defaults apply; {@code []} is unsteered.
 *
 * @param requests the engine's requests, choice index = list index
 * @param stops the stop strings
 * @param stream whether to answer with server-sent events
 * @param includeUsage whether the stream's last chunk carries usage
 * @param n choices per prompt
 */
record CompletionRequest(List<Request> requests, List<String> stops, boolean stream, boolean includeUsage, int n) {
    static final int MAX_N = 16;
    static final int MAX_STOPS = 4;
    static final int DEFAULT_MAX_TOKENS = 16; // OpenAI's

    static CompletionRequest parse(JsonNode body, String servedModel, VectorLibrary vectors, List<Steer> defaultSteer) {
        if (body == null || !body.isObject()) throw ApiError.invalid(null, "the request body must be a JSON object");
        JsonNode model = present(body, "model");
        if (model != null && (!model.isTextual() || !model.textValue().equals(servedModel))) {
            throw new ApiError(404, "invalid_request_error", "model", "the model " + model + " does not exist: this server serves \""
                    + servedModel + "\" (GET /v1/models)");
        }
        List<String> prompts = prompts(body);
        int maxTokens = integer(body, "max_tokens", DEFAULT_MAX_TOKENS, 0, Integer.MAX_VALUE);
        int n = integer(body, "n", 1, 1, MAX_N);
        double temperature = number(body, "temperature", 1.0, 0, 2);
        double topP = number(body, "top_p", 1.0, 0, 1);
        if (present(body, "top_p") != null && topP == 0) throw ApiError.invalid("top_p", "\"top_p\" must be > 0");
        JsonNode seedNode = present(body, "seed");
        if (seedNode != null && (!seedNode.isIntegralNumber() || !seedNode.canConvertToLong())) {
            throw ApiError.invalid("seed", "\"seed\" must be an integer, got " + seedNode);
        }
        long seed = seedNode != null ? seedNode.longValue() : ThreadLocalRandom.current().nextLong();
        unsupported(body);
        List<String> stops = stops(body);
        boolean stream = bool(body, "stream");
        boolean includeUsage = false;
        JsonNode options = present(body, "stream_options");
        if (options != null) {
            if (!options.isObject()) throw ApiError.invalid("stream_options", "\"stream_options\" must be an object");
            if (!stream) throw ApiError.invalid("stream_options", "\"stream_options\" is only allowed with \"stream\": true");
            includeUsage = bool(options, "include_usage");
        }
        JsonNode steerNode = body.get("steer");
        List<Steer> steer = steerNode == null || steerNode.isNull() ? defaultSteer : steer(steerNode, vectors);

        List<Request> requests = new ArrayList<>();
        for (int p = 0; p < prompts.size(); p++) {
            for (int c = 0; c < n; c++) {
                Request.Builder b = Request.prompt(prompts.get(p)).id(Integer.toString(p * n + c)).maxNewTokens(maxTokens).steer(steer);
                if (temperature == 0) {
                    b.greedy();
                } else {
                    // each choice its own stream: choice c draws as a request with seed + c alone would
                    b.sample(temperature, seed + c).topP(topP);
                }
                requests.add(b.build());
            }
        }
        return new CompletionRequest(List.copyOf(requests), stops, stream, includeUsage, n);
    }

    private static List<String> prompts(JsonNode body) {
        JsonNode prompt = present(body, "prompt");
        if (prompt == null) throw ApiError.invalid("prompt", "\"prompt\" (a string or a list of strings) is required");
        if (prompt.isTextual()) return List.of(prompt.textValue());
        if (!prompt.isArray() || prompt.isEmpty()) {
            throw ApiError.invalid("prompt", "\"prompt\" must be a string or a non-empty list of strings");
        }
        List<String> out = new ArrayList<>();
        for (JsonNode p : prompt) {
            if (p.isNumber() || p.isArray()) {
                throw ApiError.invalid("prompt", "token-id prompts are not supported: send \"prompt\" as text");
            }
            if (!p.isTextual()) throw ApiError.invalid("prompt", "each \"prompt\" must be a string, got " + p);
            out.add(p.textValue());
        }
        return out;
    }

    /** OpenAI fields steer4j cannot honour: a 400 naming the field, unless sent at their no-op value. */
    private static void unsupported(JsonNode body) {
        JsonNode logprobs = present(body, "logprobs");
        if (logprobs != null && !(logprobs.isIntegralNumber() && logprobs.intValue() == 0) && !logprobs.isBoolean()) {
            throw ApiError.invalid("logprobs", "\"logprobs\" is not supported by this server");
        }
        if (logprobs != null && logprobs.isBoolean() && logprobs.booleanValue()) {
            throw ApiError.invalid("logprobs", "\"logprobs\" is not supported by this server");
        }
        if (bool(body, "echo")) throw ApiError.invalid("echo", "\"echo\" is not supported by this server");
        JsonNode bestOf = present(body, "best_of");
        if (bestOf != null && !(bestOf.isIntegralNumber() && bestOf.intValue() == 1)) {
            throw ApiError.invalid("best_of", "\"best_of\" is not supported by this server (send n instead)");
        }
        JsonNode suffix = present(body, "suffix");
        if (suffix != null && !(suffix.isTextual() && suffix.textValue().isEmpty())) {
            throw ApiError.invalid("suffix", "\"suffix\" (insertion) is not supported by this server");
        }
        for (String penalty : List.of("presence_penalty", "frequency_penalty")) {
            JsonNode v = present(body, penalty);
            if (v != null && !(v.isNumber() && v.doubleValue() == 0)) {
                throw ApiError.invalid(penalty, "\"" + penalty + "\" is not supported by this server (only 0)");
            }
        }
        JsonNode bias = present(body, "logit_bias");
        if (bias != null && !(bias.isObject() && bias.isEmpty())) {
            throw ApiError.invalid("logit_bias", "\"logit_bias\" is not supported by this server");
        }
    }

    private static List<String> stops(JsonNode body) {
        JsonNode stop = present(body, "stop");
        if (stop == null) return List.of();
        List<String> out = new ArrayList<>();
        if (stop.isTextual()) {
            out.add(stop.textValue());
        } else if (stop.isArray() && stop.size() <= MAX_STOPS) {
            for (JsonNode s : stop) {
                if (!s.isTextual()) throw ApiError.invalid("stop", "each \"stop\" must be a string, got " + s);
                out.add(s.textValue());
            }
        } else {
            throw ApiError.invalid("stop", "\"stop\" must be a string or a list of at most " + MAX_STOPS + " strings");
        }
        return out.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** steer4j's {@code steer}: {@code [{"vector": NAME | "values": [...], "module", "coef", "positions"}]}. */
    private static List<Steer> steer(JsonNode list, VectorLibrary vectors) {
        if (!list.isArray()) {
            throw ApiError.invalid("steer", "\"steer\" must be a list of {\"vector\": NAME, \"coef\", \"positions\", \"module\"}"
                    + " or {\"module\", \"values\", \"coef\", \"positions\"}");
        }
        List<Steer> out = new ArrayList<>();
        for (int i = 0; i < list.size(); i++) {
            JsonNode e = list.get(i);
            String at = "steer[" + i + "]";
            if (!e.isObject()) throw ApiError.invalid("steer", at + " must be an object");
            double coef = 1.0;
            JsonNode c = present(e, "coef");
            if (c != null) {
                if (!c.isNumber()) throw ApiError.invalid("steer", at + ".coef must be a number, got " + c);
                coef = c.doubleValue();
                // beyond float's range the coefficient itself overflows on the model's device
                if (!Double.isFinite(coef) || Math.abs(coef) > Float.MAX_VALUE) {
                    throw ApiError.invalid("steer", at + ".coef " + c + " overflows: it must be a finite float32 number");
                }
            }
            Positions where = Positions.ALL;
            JsonNode pos = present(e, "positions");
            if (pos != null) {
                if (!pos.isTextual()) throw ApiError.invalid("steer", at + ".positions must be a string such as \"all\"");
                try {
                    where = Positions.parse(pos.textValue());
                } catch (InvalidInputException ex) {
                    throw ApiError.invalid("steer", at + ".positions: " + ex.getMessage());
                }
            }
            String module = null;
            JsonNode m = present(e, "module");
            if (m != null) {
                if (!m.isTextual()) throw ApiError.invalid("steer", at + ".module must be a string");
                module = m.textValue();
            }
            JsonNode name = present(e, "vector");
            JsonNode values = present(e, "values");
            if ((name == null) == (values == null)) {
                throw ApiError.invalid("steer", at + " needs exactly one of \"vector\" (a name from GET /v1/vectors) and \"values\" (inline floats)");
            }
            if (name != null) {
                if (!name.isTextual()) throw ApiError.invalid("steer", at + ".vector must be a name (a string)");
                try {
                    out.addAll(vectors.entries(name.textValue(), coef, where, module));
                } catch (ApiError ex) {
                    throw ApiError.invalid("steer", at + ": " + ex.getMessage());
                }
            } else {
                if (module == null) throw ApiError.invalid("steer", at + " with inline \"values\" needs \"module\"");
                out.add(new Steer(module, floats(values, at), coef, where));
            }
        }
        return out;
    }

    private static float[] floats(JsonNode values, String at) {
        if (!values.isArray() || values.isEmpty()) throw ApiError.invalid("steer", at + ".values must be a non-empty list of numbers");
        float[] out = new float[values.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode v = values.get(i);
            if (!v.isNumber()) throw ApiError.invalid("steer", at + ".values[" + i + "] is not a number: " + v);
            out[i] = v.floatValue();
            if (!Float.isFinite(out[i])) throw ApiError.invalid("steer", at + ".values[" + i + "] overflows float32: " + v);
        }
        return out;
    }

    /** The field, or null when absent or JSON null (OpenAI's clients send null for "not given"). */
    private static JsonNode present(JsonNode node, String field) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? null : v;
    }

    private static boolean bool(JsonNode node, String field) {
        JsonNode v = present(node, field);
        if (v == null) return false;
        if (!v.isBoolean()) throw ApiError.invalid(field, "\"" + field + "\" must be true or false, got " + v);
        return v.booleanValue();
    }

    private static int integer(JsonNode node, String field, int fallback, int min, int max) {
        JsonNode v = present(node, field);
        if (v == null) return fallback;
        if (!v.isIntegralNumber() || !v.canConvertToInt() || v.intValue() < min || v.intValue() > max) {
            throw ApiError.invalid(field, "\"" + field + "\" must be an integer from " + min
                    + (max == Integer.MAX_VALUE ? " up" : " to " + max) + ", got " + v);
        }
        return v.intValue();
    }

    private static double number(JsonNode node, String field, double fallback, double min, double max) {
        JsonNode v = present(node, field);
        if (v == null) return fallback;
        if (!v.isNumber() || !(v.doubleValue() >= min && v.doubleValue() <= max)) {
            throw ApiError.invalid(field, "\"" + field + "\" must be a number from " + min + " to " + max + ", got " + v);
        }
        return v.doubleValue();
    }
}

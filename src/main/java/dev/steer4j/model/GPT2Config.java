package dev.steer4j.model;

import dev.steer4j.InvalidInputException;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * The GPT-2 hyper-parameters steer4j needs, read from a Hugging Face {@code config.json}.
 * {@code nInner} is already resolved (HF's {@code n_inner: null} means 4 * n_embd).
 */
public record GPT2Config(int nLayer, int nHead, int nEmbd, int nPositions, int vocabSize, int nInner,
                         double layerNormEpsilon) {

    private static final ObjectMapper JSON = new ObjectMapper();

    public GPT2Config {
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("n_positions", nPositions);
        positive("vocab_size", vocabSize);
        positive("n_inner", nInner);
        if (nEmbd % nHead != 0) {
            throw new InvalidInputException("n_embd " + nEmbd + " is not divisible by n_head " + nHead);
        }
        if (!(layerNormEpsilon > 0) || Double.isInfinite(layerNormEpsilon)) {
            throw new InvalidInputException("layer_norm_epsilon must be a positive number, got " + layerNormEpsilon);
        }
    }

    public int headDim() {
        return nEmbd / nHead;
    }

    /** Parses HF GPT-2 config JSON; throws InvalidInputException naming the bad field. */
    public static GPT2Config fromJson(String json) {
        JsonNode root;
        try {
            root = JSON.readTree(json);
        } catch (JsonProcessingException e) {
            throw new InvalidInputException("config is not valid JSON: " + e.getOriginalMessage());
        }
        if (root == null || !root.isObject()) {
            throw new InvalidInputException("config is not a JSON object");
        }
        JsonNode type = root.get("model_type");
        if (type != null && type.isTextual() && !type.textValue().equals("gpt2")) {
            throw new InvalidInputException("model_type is \"" + type.textValue() + "\", expected \"gpt2\"");
        }
        JsonNode act = root.get("activation_function");
        String activation = act == null || act.isNull() ? "gelu_new" : act.asText();
        // both names are the tanh approximation; other activations would silently change outputs
        if (!activation.equals("gelu_new") && !activation.equals("gelu_pytorch_tanh")) {
            throw new InvalidInputException("activation_function \"" + activation
                    + "\" is not supported (only gelu_new / gelu_pytorch_tanh)");
        }
        int nEmbd = requiredInt(root, "n_embd");
        // very old configs carry only n_ctx
        String posField = !root.hasNonNull("n_positions") && root.hasNonNull("n_ctx") ? "n_ctx" : "n_positions";
        JsonNode inner = root.get("n_inner");
        int nInner = inner == null || inner.isNull() ? 4 * nEmbd : requiredInt(root, "n_inner");
        double eps = 1e-5;
        JsonNode epsNode = root.get("layer_norm_epsilon");
        if (epsNode != null && !epsNode.isNull()) {
            if (!epsNode.isNumber()) {
                throw new InvalidInputException("layer_norm_epsilon is not a number: " + epsNode);
            }
            eps = epsNode.doubleValue();
        }
        return new GPT2Config(requiredInt(root, "n_layer"), requiredInt(root, "n_head"), nEmbd,
                requiredInt(root, posField),
                requiredInt(root, "vocab_size"), nInner, eps);
    }

    /** HF-style JSON with the same field names {@link #fromJson} reads. */
    public String toJson() {
        ObjectNode n = JSON.createObjectNode();
        n.put("model_type", "gpt2");
        n.put("n_layer", nLayer);
        n.put("n_head", nHead);
        n.put("n_embd", nEmbd);
        n.put("n_positions", nPositions);
        n.put("n_ctx", nPositions);
        n.put("vocab_size", vocabSize);
        n.put("n_inner", nInner);
        n.put("layer_norm_epsilon", layerNormEpsilon);
        n.put("activation_function", "gelu_new");
        try {
            return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(n);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static int requiredInt(JsonNode root, String field) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            throw new InvalidInputException("config field " + field + " is missing");
        }
        if (!v.isIntegralNumber() || !v.canConvertToInt()) {
            throw new InvalidInputException("config field " + field + " is not an integer: " + v);
        }
        return v.intValue();
    }

    private static void positive(String field, int value) {
        if (value <= 0) {
            throw new InvalidInputException("config field " + field + " must be positive, got " + value);
        }
    }
}

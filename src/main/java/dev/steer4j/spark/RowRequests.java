package dev.steer4j.spark;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.steer4j.InvalidInputException;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.StructField;

/**
 * A DataFrame row as the request object of {@code steer4j batch} (so both read requests with the same
 * {@code RequestReader}): the columns {@code id}, {@code prompt}, {@code steer} (an array of structs, as
 * {@code spark.read.json} infers it, or a JSON string), {@code max_new_tokens}, {@code greedy},
 * {@code temperature}, {@code top_k}, {@code top_p}, {@code seed}; null columns are left out, other
 * columns are ignored.
 */
final class RowRequests {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> FIELDS = List.of("id", "prompt", "max_new_tokens", "greedy", "temperature", "top_k",
            "top_p", "seed");
    /** Where spark.read.json puts a line it could not parse. */
    static final String CORRUPT = "_corrupt_record";

    private RowRequests() {}

    static String json(Row row) {
        List<String> names = List.of(row.schema().fieldNames());
        if (names.contains(CORRUPT) && !row.isNullAt(row.fieldIndex(CORRUPT))) {
            String raw = row.getString(row.fieldIndex(CORRUPT));
            throw new InvalidInputException("not valid JSON: " + (raw.length() > 60 ? raw.substring(0, 57) + "..." : raw));
        }
        ObjectNode out = JSON.createObjectNode();
        for (String f : FIELDS) {
            if (names.contains(f) && !row.isNullAt(row.fieldIndex(f))) out.set(f, JSON.valueToTree(row.get(row.fieldIndex(f))));
        }
        if (names.contains("steer") && !row.isNullAt(row.fieldIndex("steer"))) out.set("steer", steer(row.get(row.fieldIndex("steer"))));
        try {
            return JSON.writeValueAsString(out);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot encode a request", e);
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode steer(Object value) {
        try {
            if (value instanceof String s) return JSON.readTree(s);
            ArrayNode list = JSON.createArrayNode();
            for (Object e : asList(value)) {
                if (e instanceof String s) {
                    list.add(JSON.readTree(s));
                } else if (e instanceof Row r) {
                    ObjectNode entry = JSON.createObjectNode();
                    for (StructField f : r.schema().fields()) {
                        int i = r.fieldIndex(f.name());
                        if (!r.isNullAt(i)) entry.set(f.name(), JSON.valueToTree(r.get(i)));
                    }
                    list.add(entry);
                } else {
                    throw new InvalidInputException("\"steer\" entries must be structs or JSON objects");
                }
            }
            return list;
        } catch (JsonProcessingException e) {
            throw new InvalidInputException("\"steer\" is not valid JSON: " + e.getOriginalMessage());
        }
    }

    private static List<?> asList(Object value) {
        if (value instanceof List<?> l) return l;
        if (value instanceof scala.collection.Seq<?> s) return scala.jdk.javaapi.CollectionConverters.asJava(s);
        throw new InvalidInputException("\"steer\" must be a list of {file, coef, positions, module} or a JSON string");
    }
}

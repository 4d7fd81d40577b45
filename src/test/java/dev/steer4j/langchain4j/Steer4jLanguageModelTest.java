package dev.steer4j.langchain4j;

import com.fasterxml.jackson.databind.JsonNode;
import dev.langchain4j.model.StreamingResponseHandler;
import dev.langchain4j.model.input.Prompt;
import dev.langchain4j.model.language.LanguageModel;
import dev.langchain4j.model.language.StreamingLanguageModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.Model;
import dev.steer4j.Session;
import dev.steer4j.request.Request;
import dev.steer4j.request.Steer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The provider through langchain4j's own interfaces, against the reference fixtures and single runs. */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class Steer4jLanguageModelTest {
    static final String PROMPT = "I think dogs are ";
    static final JsonNode GREEDY = Fixtures.expected("greedy.json");
    static final float[] UNIT = Fixtures.floats(Fixtures.expected("actadd.json").get("last_token").get("unit_vector"));
    static final Steer PLUS = new Steer("transformer.h.1", UNIT, 10);
    static final Steer MINUS = new Steer("transformer.h.1", UNIT, -10);

    @TempDir
    static Path dir;
    static Path file;

    @BeforeAll
    static void save() {
        file = dir.resolve("tiny.pt");
        Fixtures.saveConverted(file);
    }

    @Test
    void languageModelGivesTheReferenceWithUsageAndFinishReason() {
        try (Steer4jLanguageModel steered = Steer4jLanguageModel.builder().modelPath(file).maxNewTokens(12).steer(PLUS).build()) {
            LanguageModel lm = steered;
            Response<String> r = lm.generate(Prompt.from(PROMPT));
            assertEquals(GREEDY.get("steered_last_token_unit_every_position_c10").get("text").asText(), r.content());
            assertEquals(new TokenUsage(5, 12, 17), r.tokenUsage());
            assertEquals(FinishReason.LENGTH, r.finishReason());

            assertEquals(GREEDY.get("unsteered").get("text").asText(), steered.withSteering(List.of()).generate(PROMPT).content());
            assertEquals(GREEDY.get("unsteered").get("text").asText(), steered.generate(PROMPT, List.of()).content());
            InvalidInputException bad = assertThrows(InvalidInputException.class,
                    () -> steered.generate(PROMPT, List.of(new Steer("transformer.h.1", new float[3], 1))));
            assertTrue(bad.getMessage().contains("width"), bad.getMessage());
        }
    }

    @Test
    void streamingModelStreamsTheTextItCompletesWith() throws Exception {
        String minus;
        try (Model model = Model.load(file)) {
            try (Session alone = model.session()) {
                minus = alone.run(Request.prompt(PROMPT).maxNewTokens(12).steer(MINUS).build()).text();
            }
            // a shared model: the provider closes its engine, never the caller's model
            try (Steer4jStreamingLanguageModel lm = Steer4jStreamingLanguageModel.builder().model(model).maxNewTokens(12)
                    .steer(MINUS).build()) {
                Collected c = collect(lm, PROMPT);
                assertEquals(minus, c.response.content());
                assertEquals(minus, c.pieces.toString());
                assertTrue(c.count > 1, "streamed in pieces");
                assertEquals(new TokenUsage(5, 12, 17), c.response.tokenUsage());
                assertEquals(FinishReason.LENGTH, c.response.finishReason());
                assertEquals(GREEDY.get("steered_last_token_unit_every_position_c10").get("text").asText(),
                        collect(lm.withSteering(List.of(PLUS)), PROMPT).response.content());

                CompletableFuture<Throwable> error = new CompletableFuture<>();
                lm.generate(PROMPT, List.of(new Steer("transformer.h.1", new float[3], 1)), new StreamingResponseHandler<>() {
                    @Override public void onNext(String token) {}

                    @Override public void onError(Throwable e) {
                        error.complete(e);
                    }
                });
                Throwable e = error.get(1, TimeUnit.MINUTES);
                assertTrue(e instanceof InvalidInputException && e.getMessage().contains("width"), String.valueOf(e));
            }
            try (Session still = model.session()) {
                assertEquals(minus, still.run(Request.prompt(PROMPT).maxNewTokens(12).steer(MINUS).build()).text());
            }
        }
    }

    static final class Collected {
        final StringBuilder pieces = new StringBuilder();
        int count;
        Response<String> response;
    }

    static Collected collect(StreamingLanguageModel lm, String prompt) throws Exception {
        Collected c = new Collected();
        CompletableFuture<Response<String>> done = new CompletableFuture<>();
        lm.generate(prompt, new StreamingResponseHandler<>() {
            @Override public void onNext(String token) {
                c.pieces.append(token);
                c.count++;
            }

            @Override public void onComplete(Response<String> response) {
                done.complete(response);
            }

            @Override public void onError(Throwable e) {
                done.completeExceptionally(e);
            }
        });
        c.response = done.get(1, TimeUnit.MINUTES);
        return c;
    }
}

package dev.steer4j.cli;

import dev.steer4j.generate.Generator;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Request;
import dev.steer4j.session.SteeringSession;
import dev.steer4j.model.Gpt2Model;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** Next-token logits at the last position of each prompt; all prompts run as one left-padded batch. */
@Command(name = "logits", mixinStandardHelpOptions = true,
        description = "Print the next-token logits of prompts (top 10, or all with --json).")
final class LogitsCommand implements Callable<Integer> {
    private static final int TOP = 10;

    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Mixin
    SteerOptions steerOptions;

    @Option(names = "--prompt", paramLabel = "P", description = "prompt (repeatable)")
    List<String> prompts;

    @Mixin
    RequestsFile requests;

    @Option(names = "--json", description = "print one JSON object with the full logits")
    boolean json;

    @Override
    public Integer call() {
        requests.checkExclusive(prompts);
        if (requests.given()) {
            try (Gpt2Model model = modelOptions.load(); SteeringSession session = SteeringSession.open(model)) {
                List<Request> batch = requests.read(session, steerOptions, 0, Sampling.GREEDY);
                List<String> ids = batch.stream().map(Request::id).toList();
                List<String> texts = batch.stream().map(Request::prompt).toList();
                int[][] tokens = batch.stream().map(session::check).toArray(int[][]::new);
                print(model, ids, texts, tokens, session.requestLogits(batch));
            }
            return 0;
        }
        Gpt2Model model = modelOptions.load();
        Generator generator = new Generator(model, steerOptions.apply(model));
        int[][] ids = generator.encode(prompts, 0);
        print(model, null, prompts, ids, generator.lastLogits(ids));
        return 0;
    }

    /** Top tokens per prompt, or everything as JSON; {@code requestIds} null without --requests. */
    private void print(Gpt2Model model, List<String> requestIds, List<String> prompts, int[][] ids, float[][] logits) {
        if (json) {
            List<Map<String, Object>> results = new ArrayList<>();
            for (int i = 0; i < ids.length; i++) {
                Map<String, Object> r = new LinkedHashMap<>();
                if (requestIds != null) r.put("id", requestIds.get(i));
                r.put("prompt", prompts.get(i));
                r.put("ids", ids[i]);
                r.put("logits", logits[i]);
                results.add(r);
            }
            Json.print(main.out(), Map.of("results", results));
            return;
        }
        for (int i = 0; i < ids.length; i++) {
            main.out().println((requestIds == null ? "" : requestIds.get(i) + " ") + Json.write(prompts.get(i)));
            for (int id : topIds(logits[i], TOP)) {
                String token = Json.write(model.tokenizer().decode(new int[] {id}));
                main.out().printf("  %10.5f  %6d  %s%n", logits[i][id], id, token);
            }
        }
    }

    /** Indices of the k largest values, largest first (ties: lower id first). */
    static int[] topIds(float[] values, int k) {
        int n = Math.min(k, values.length);
        int[] best = new int[n];
        int filled = 0;
        for (int id = 0; id < values.length; id++) {
            int pos = filled;
            while (pos > 0 && values[best[pos - 1]] < values[id]) pos--;
            if (pos >= n) continue;
            System.arraycopy(best, pos, best, pos + 1, Math.min(filled, n - 1) - pos);
            best[pos] = id;
            filled = Math.min(filled + 1, n);
        }
        return best;
    }
}

package dev.steer4j.cli;

import dev.steer4j.Device;
import dev.steer4j.Engine;
import dev.steer4j.InvalidInputException;
import dev.steer4j.Model;
import dev.steer4j.Session;
import dev.steer4j.request.Request;
import dev.steer4j.request.Sampling;
import dev.steer4j.request.Steer;
import dev.steer4j.request.json.RequestReader;
import dev.steer4j.server.OpenAiServer;
import dev.steer4j.server.ServerOptions;
import dev.steer4j.steering.SteerSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** An OpenAI-compatible HTTP server over one model and one continuous-batching engine. */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Serve OpenAI's /v1/completions with per-request steering (see README).")
final class ServeCommand implements Callable<Integer> {
    @ParentCommand
    Main main;

    @Mixin
    ModelOptions modelOptions;

    @Option(names = "--host", paramLabel = "ADDR", defaultValue = "127.0.0.1",
            description = "address to listen on (default 127.0.0.1: this machine only)")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8000", description = "port (default 8000; 0: any free one)")
    int port;

    @Option(names = "--vectors", paramLabel = "DIR",
            description = "folder of vector files that requests may name in \"steer\" (GET /v1/vectors lists them)")
    Path vectors;

    @Option(names = "--api-key-file", paramLabel = "F",
            description = "file holding the key every request must send as Authorization: Bearer KEY (or STEER4J_API_KEY)")
    Path apiKeyFile;

    @Option(names = "--max-batch", paramLabel = "B", defaultValue = "16",
            description = "requests decoded together at most (default 16)")
    int maxBatch;

    @Option(names = "--token-budget", paramLabel = "N", description = "chunked prefill: each step feeds the model at most N"
            + " tokens, every running request's next one, then chunks of waiting prompts (more than --max-batch, or 0: off;"
            + " default: the larger of 256 and twice --max-batch)")
    Integer tokenBudget;

    @Option(names = "--max-queue", paramLabel = "N", defaultValue = "256",
            description = "requests waiting for a slot at most; more are refused with 429 (default 256)")
    int maxQueue;

    @Mixin
    SteerOptions steerOptions;

    @Override
    public Integer call() throws InterruptedException {
        if (port < 0 || port > 65535) throw new InvalidInputException("--port must be 0..65535, got " + port);
        if (maxBatch < 1) throw new InvalidInputException("--max-batch must be >= 1, got " + maxBatch);
        if (maxQueue < 1) throw new InvalidInputException("--max-queue must be >= 1, got " + maxQueue);
        if (tokenBudget != null && tokenBudget != 0 && tokenBudget <= maxBatch) {
            throw new InvalidInputException("--token-budget must be 0 (off) or more than --max-batch (" + maxBatch + "), got " + tokenBudget);
        }
        if (vectors != null && !Files.isDirectory(vectors)) throw new InvalidInputException("--vectors " + vectors + ": not a folder");
        Path model = modelOptions.model;
        if (model != null && !Files.isRegularFile(model)) throw new InvalidInputException("--model " + model + ": no such file");
        new Device(modelOptions.device); // a bad --device is refused before the server starts
        String key = apiKey();
        List<Steer> defaults = defaultSteer();
        // slf4j-simple is Jetty's log: warnings only, on stderr (the access log is steer4j's own line)
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        // Javalin logs a failed start as an error of its own; the command says it in one line instead
        System.setProperty("org.slf4j.simpleLogger.log.io.javalin.Javalin", "off");

        ServerOptions options = new ServerOptions(host, port, vectors, key, ServerOptions.DEFAULT_MAX_BODY, defaults,
                line -> main.err().println(line));
        OpenAiServer server;
        try {
            server = OpenAiServer.start(options);
        } catch (IllegalStateException e) {
            throw new InvalidInputException("--host " + host + " --port " + port + ": " + e.getMessage());
        }
        CountDownLatch stop = new CountDownLatch(1);
        Signals.onTerminate(stop::countDown);
        main.err().println("steer4j serve: listening on http://" + host + ":" + server.port() + " (loading the model)");
        try (Model m = modelOptions.open(); Session session = m.session(); Engine engine = tokenBudget == null
                ? session.engine(maxBatch, maxQueue) : session.engine(maxBatch, maxQueue, tokenBudget)) {
            checkDefaults(engine, defaults);
            String name = model == null ? "steer4j-builtin" : stem(model);
            server.ready(engine, name);
            main.err().println("steer4j serve: model " + name + " ready; " + maxBatch + " slots, queue " + maxQueue
                    + (engine.tokenBudget() == 0 ? ", prompts prefilled apart" : ", token budget " + engine.tokenBudget())
                    + (defaults.isEmpty() ? "" : ", default steering " + String.join(" ", steerOptions.steer)));
            stop.await();
            main.err().println("steer4j serve: stopping (grace " + ServerOptions.DEFAULT_GRACE.toSeconds() + " s)");
            boolean all = server.shutdown(ServerOptions.DEFAULT_GRACE);
            main.err().println("steer4j serve: stopped" + (all ? "" : "; requests still running after the grace period were cancelled"));
        } finally {
            server.close();
        }
        return 0;
    }

    private String apiKey() {
        if (apiKeyFile != null) {
            String k;
            try {
                k = Files.readString(apiKeyFile, StandardCharsets.UTF_8).strip();
            } catch (IOException e) {
                throw new InvalidInputException("--api-key-file " + apiKeyFile + ": cannot be read (" + e.getMessage() + ")");
            }
            if (k.isEmpty()) throw new InvalidInputException("--api-key-file " + apiKeyFile + " is empty");
            return k;
        }
        String env = System.getenv("STEER4J_API_KEY");
        return env == null || env.isBlank() ? null : env.strip();
    }

    /** {@code --steer} flags as request entries, read by the reader of request files (the same meaning). */
    private List<Steer> defaultSteer() {
        RequestReader reader = new RequestReader(List.of(), List.of(), 0, Sampling.GREEDY);
        List<Steer> out = new ArrayList<>();
        for (SteerSpec spec : steerOptions.specsForRequests()) {
            out.addAll(reader.entries(spec.file(), spec.coefficient(), spec.positions(), null));
        }
        return out;
    }

    /** A default steering that does not suit the model is refused at start, not at every request. */
    private static void checkDefaults(Engine engine, List<Steer> defaults) throws InterruptedException {
        if (defaults.isEmpty()) return;
        try {
            engine.submit(Request.prompt(" ").maxNewTokens(0).steer(defaults).build()).result().get(1, TimeUnit.MINUTES);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new InvalidInputException("--steer: " + e.getCause().getMessage());
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException("checking --steer took over a minute");
        }
    }

    private static String stem(Path file) {
        String name = file.getFileName().toString();
        return name.endsWith(".pt") ? name.substring(0, name.length() - 3) : name;
    }
}

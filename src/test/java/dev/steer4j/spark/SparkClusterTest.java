package dev.steer4j.spark;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.steer4j.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import org.apache.spark.launcher.JavaModuleOptions;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * {@code BatchJob} submitted with target/steer4j-spark.jar (built before the tests, see pom.xml) to a real
 * standalone cluster: a Master and two 1-core Workers as child JVMs on 127.0.0.1, from a SPARK_HOME that holds
 * Spark's own jars only, so the executors have nothing of steer4j but what the submit ships. One executor is
 * killed (SIGKILL) in the middle of each of two jobs.
 */
class SparkClusterTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String EXECUTOR_MAIN = "org.apache.spark.executor.CoarseGrainedExecutorBackend";
    private static final Duration START = Duration.ofSeconds(90);
    private static final Duration JOB = Duration.ofSeconds(180);

    static Path dir;
    static Path sparkHome;
    static Path appJar;
    static Path model;
    static int masterPort;
    static int masterUi;
    static final List<Process> daemons = new ArrayList<>(); // the Master first, then the Workers
    static final List<Process> drivers = new ArrayList<>();
    static final Map<Process, String> names = new HashMap<>();
    static long started;

    @BeforeAll
    static void startCluster() throws Exception {
        long t0 = System.nanoTime();
        appJar = Path.of("target/steer4j-spark.jar").toAbsolutePath();
        assertTrue(Files.isRegularFile(appJar), appJar + " is missing: Maven builds it before the tests (mvn test)");
        long built = Files.getLastModifiedTime(appJar).toMillis();
        try (Stream<Path> sources = Files.walk(Path.of("src/main"))) {
            Optional<Path> newer = sources.filter(p -> p.toFile().lastModified() > built).findAny();
            assertTrue(newer.isEmpty(), () -> appJar + " is older than " + newer.get() + ": rebuild it (mvn test)");
        }
        dir = Files.createTempDirectory("steer4j-spark-cluster");
        model = dir.resolve("tiny.pt");
        Fixtures.converted().save(model);
        Fixtures.writeVectors(dir);
        sparkHome = sparkHome(dir.resolve("spark"));
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
        // The Master first, on its own ports: a port taken between our pick and its bind makes it move to the next
        // one, where no Worker would look; then it starts again on fresh ports.
        for (int attempt = 1; ; attempt++) {
            int[] ports = freePorts(2);
            masterPort = ports[0];
            masterUi = ports[1];
            Process master = start("master", List.of("org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                    "--port", Integer.toString(masterPort), "--webui-port", Integer.toString(masterUi)), "-Xmx256m");
            daemons.add(master);
            String[] url = {null};
            await("the Master up", START, () -> {
                url[0] = masterJson(http).path("url").asText(null);
                return url[0] != null || log("master").contains("could not bind"); // its UI moved: no answer there
            });
            if (masterUrl().equals(url[0])) break;
            assertTrue(attempt < 3, "the Master did not start on its ports three times: " + url[0] + ", " + log("master"));
            daemons.remove(master);
            master.destroyForcibly().waitFor();
        }
        int[] workerPorts = freePorts(4);
        for (int i = 0; i < 2; i++) {
            daemons.add(start("worker" + i, List.of("org.apache.spark.deploy.worker.Worker", masterUrl(), "--cores", "1",
                    "--memory", "1g", "--host", "127.0.0.1", "--port", Integer.toString(workerPorts[2 * i]), "--webui-port",
                    Integer.toString(workerPorts[2 * i + 1]), "--work-dir", dir.resolve("work" + i).toString()), "-Xmx256m"));
        }
        await("two Workers registered with the Master", START, () -> masterJson(http).path("aliveworkers").asInt() == 2);
        started = System.nanoTime() - t0;
    }

    @AfterAll
    static void stopCluster() throws Exception {
        List<ProcessHandle> all = new ArrayList<>();
        for (Process p : drivers) all.add(p.toHandle());
        for (Process p : daemons) {
            p.toHandle().descendants().forEach(all::add); // executors, before their Worker goes
            all.add(p.toHandle());
        }
        all.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle h : all) {
            try {
                h.onExit().get(20, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("SparkClusterTest: process " + h.pid() + " did not exit: " + e);
            }
        }
        if (dir != null && System.getenv("KEEP_SPARK_CLUSTER_TEST") == null) { // set: keep the logs, to debug
            try (Stream<Path> walk = Files.walk(dir)) {
                for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
            } catch (IOException e) {
                System.err.println("SparkClusterTest: could not remove " + dir + ": " + e);
            }
        }
    }

    @Test
    void aKilledExecutorLosesAndRepeatsNothingAndAFailedWriteLeavesNoOutputBehind() throws Exception {
        long t0 = System.nanoTime();
        Path in = requests(dir.resolve("requests.jsonl"), 64);
        Map<String, JsonNode> expected = steer4jBatch(in);
        Path out = dir.resolve("results.jsonl");

        // No task attempts to spare: an executor lost in the write fails the job, which must leave no output
        // directory (else its rerun is refused: the output exists).
        Process first = submit("first", in, out, "--conf", "spark.task.maxFailures=1");
        killAnExecutorInATask(first, () -> true);
        assertTrue(first.waitFor(JOB.toSeconds(), TimeUnit.SECONDS), "the failing job did not end: " + log("first"));
        assertEquals(1, first.exitValue(), log("first"));
        assertTrue(log("first").contains("steer4j-spark: internal error"), log("first"));
        assertFalse(Files.exists(out), "a failed job left " + out + " behind: " + log("first"));
        long t1 = System.nanoTime();

        // The rerun to the same path, with Spark's 4 attempts per task: an executor killed after tasks have
        // committed their output, while it runs another.
        Process second = submit("second", in, out);
        killAnExecutorInATask(second, () -> committedTasks(out) > 0);
        assertTrue(second.waitFor(JOB.toSeconds(), TimeUnit.SECONDS), "the job did not end: " + log("second"));
        assertEquals(0, second.exitValue(), log("second"));
        assertTrue(log("second").contains("ExecutorLostFailure"), "no task was lost with the executor: " + log("second"));
        assertTrue(log("second").contains("steer4j-spark: 64 requests, 0 with an error"), log("second"));
        System.err.printf("SparkClusterTest: cluster up in %.1f s; steer4j batch and the failed job %.1f s, the rerun %.1f s%n",
                started / 1e9, (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9);

        Map<String, JsonNode> got = new HashMap<>();
        List<Path> parts;
        try (Stream<Path> files = Files.list(out)) {
            parts = files.filter(p -> p.getFileName().toString().startsWith("part-")).toList();
        }
        for (Path part : parts) {
            for (String line : Files.readAllLines(part, StandardCharsets.UTF_8)) {
                JsonNode r = JSON.readTree(line);
                JsonNode before = got.put(r.get("id").asText(), r);
                assertNull(before, () -> "written twice: " + r.get("id"));
            }
        }
        assertEquals(expected.keySet(), got.keySet(), "every id exactly once");
        for (Map.Entry<String, JsonNode> e : expected.entrySet()) {
            JsonNode want = e.getValue();
            JsonNode have = got.get(e.getKey());
            assertFalse(have.hasNonNull("error"), have::toString);
            for (String f : List.of("new_ids", "text", "finish_reason", "prompt_tokens", "new_tokens")) {
                assertEquals(want.get(f), have.get(f), e.getKey() + " " + f);
            }
        }
    }

    /**
     * Once {@code when} holds, SIGKILLs an executor that is running a task (its model loaded, burning CPU);
     * fails if the driver ends first.
     */
    static void killAnExecutorInATask(Process driver, BooleanSupplier when) throws Exception {
        long deadline = System.nanoTime() + JOB.toNanos();
        while (System.nanoTime() < deadline) {
            if (!driver.isAlive()) fail("the job ended before an executor could be killed: " + log(driver));
            if (when.getAsBoolean()) {
                List<ProcessHandle> loaded = executors().stream().filter(SparkClusterTest::hasTheModel).toList();
                Map<ProcessHandle, Long> cpu = new HashMap<>();
                Map<ProcessHandle, Boolean> busy = new HashMap<>();
                for (ProcessHandle h : loaded) {
                    cpu.put(h, taskThreadTicks(h));
                    busy.put(h, true);
                }
                // Only the task threads count: the whole process also burns CPU between tasks (JIT, GC, a
                // commit). A task thread busy in two windows in a row is generating, not finishing.
                for (int window = 0; window < 2; window++) {
                    Thread.sleep(200);
                    for (ProcessHandle h : loaded) {
                        long now = taskThreadTicks(h);
                        if (now - cpu.get(h) < 4) busy.put(h, false); // 4 ticks of 10 ms: a fifth of the window
                        cpu.put(h, now);
                    }
                }
                for (ProcessHandle h : loaded) {
                    if (busy.get(h) && h.destroyForcibly()) {
                        h.onExit().get(20, TimeUnit.SECONDS);
                        return;
                    }
                }
            }
            Thread.sleep(50);
        }
        fail("no executor to kill: " + log(driver));
    }

    /**
     * CPU time (clock ticks) of an executor's task threads, whose native names are the first 15 characters of
     * Spark's "Executor task launch worker…"; 0 once the process is gone.
     */
    static long taskThreadTicks(ProcessHandle h) {
        long ticks = 0;
        try (Stream<Path> threads = Files.list(Path.of("/proc", Long.toString(h.pid()), "task"))) {
            for (Path t : threads.toList()) {
                try {
                    if (!Files.readString(t.resolve("comm")).startsWith("Executor task")) continue;
                    String stat = Files.readString(t.resolve("stat"));
                    String[] f = stat.substring(stat.lastIndexOf(") ") + 2).split(" "); // f[0] is field 3, the state
                    ticks += Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime + stime
                } catch (IOException e) {
                    // the thread ended
                }
            }
        } catch (IOException | java.io.UncheckedIOException e) {
            return 0;
        }
        return ticks;
    }

    /** The executors: children of the Workers. */
    static List<ProcessHandle> executors() {
        List<ProcessHandle> all = new ArrayList<>();
        for (Process worker : daemons.subList(1, daemons.size())) {
            worker.toHandle().children().filter(h -> h.info().arguments().map(a -> Arrays.asList(a).contains(EXECUTOR_MAIN))
                    .orElse(false)).forEach(all::add);
        }
        return all;
    }

    /** libtorch is mapped: the executor loaded the model, which it does in its first generation task. */
    static boolean hasTheModel(ProcessHandle h) {
        try {
            return Files.readString(Path.of("/proc", Long.toString(h.pid()), "maps")).contains("libtorch_cpu");
        } catch (IOException e) {
            return false; // gone
        }
    }

    /** Tasks whose output is committed: FileOutputCommitter's task_ folders, or part files in place. */
    static long committedTasks(Path out) {
        if (!Files.isDirectory(out)) return 0;
        try (Stream<Path> walk = Files.walk(out)) {
            return walk.filter(p -> p.getFileName().toString().startsWith("part-")
                    && (p.toString().contains("/task_") || p.getParent().equals(out))).count();
        } catch (IOException | java.io.UncheckedIOException e) {
            return 0; // moved while walked
        }
    }

    static Process submit(String name, Path in, Path out, String... conf) throws IOException {
        List<String> args = new ArrayList<>(List.of("org.apache.spark.deploy.SparkSubmit", "--master", masterUrl(),
                "--deploy-mode", "client", "--class", "dev.steer4j.spark.BatchJob", "--name", "steer4j-" + name,
                "--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1",
                "--conf", "spark.ui.enabled=false", "--conf", "spark.executor.memory=768m",
                // several partitions from one small file, so the job outlasts a task
                "--conf", "spark.sql.files.maxPartitionBytes=" + (Files.size(in) / 8 + 1)));
        args.addAll(List.of(conf));
        args.addAll(List.of(appJar.toString(), "--model", model.toString(), "--in", in.toString(), "--out", out.toString(),
                "--max-batch", "2"));
        Process p = start(name, args, "-Xmx768m");
        drivers.add(p);
        return p;
    }

    /** A Spark JVM as spark-class starts it: Spark's jars, its conf folder, the Java module opens. */
    static Process start(String name, List<String> mainAndArgs, String heap) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), heap));
        cmd.addAll(List.of(JavaModuleOptions.defaultModuleOptionArray()));
        cmd.addAll(List.of("-cp", sparkHome.resolve("conf") + "/:" + sparkHome.resolve("jars") + "/*"));
        cmd.addAll(mainAndArgs);
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(dir.resolve(name + ".log").toFile());
        Map<String, String> env = pb.environment();
        env.keySet().removeIf(k -> k.startsWith("SPARK_") || k.startsWith("PYSPARK_"));
        env.put("SPARK_HOME", sparkHome.toString());
        env.put("SPARK_SCALA_VERSION", "2.13"); // else every executor fails: "Cannot find any build directories"
        env.put("SPARK_LOCAL_IP", "127.0.0.1");
        env.put("SPARK_LOCAL_DIRS", Files.createDirectories(dir.resolve("local")).toString());
        Process p = pb.start();
        names.put(p, name);
        return p;
    }

    /**
     * SPARK_HOME with Spark's jars only: the project's compile class path (Maven writes it, target/compile.classpath)
     * less every jar whose content the application jar carries.
     */
    static Path sparkHome(Path home) throws IOException {
        Set<String> shipped = new HashSet<>();
        try (ZipFile app = new ZipFile(appJar.toFile())) {
            app.stream().forEach(e -> shipped.add(e.getName()));
        }
        Path jars = Files.createDirectories(home.resolve("jars"));
        int spark = 0;
        List<String> carried = new ArrayList<>();
        for (String jar : Files.readString(Path.of("target/compile.classpath")).strip().split(java.io.File.pathSeparator)) {
            Path p = Path.of(jar);
            if (carries(shipped, p)) {
                carried.add(p.getFileName().toString());
            } else {
                Files.createSymbolicLink(jars.resolve(p.getFileName()), p);
                spark++;
            }
        }
        assertTrue(carried.stream().anyMatch(j -> j.startsWith("pytorch-") && j.contains("linux-x86_64")), carried::toString);
        try (Stream<Path> links = Files.list(jars)) {
            assertTrue(spark > 100 && links.anyMatch(j -> j.getFileName().toString().startsWith("spark-core_")), "Spark's jars: " + spark);
        }
        Path conf = Files.createDirectories(home.resolve("conf"));
        Files.writeString(conf.resolve("log4j2.properties"), String.join("\n",
                "rootLogger.level = warn",
                "rootLogger.appenderRef.stderr.ref = console",
                "appender.console.type = Console",
                "appender.console.name = console",
                "appender.console.target = SYSTEM_ERR",
                "appender.console.layout.type = PatternLayout",
                "appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n", ""));
        return home;
    }

    /** Whether the application jar has this jar's first file (outside META-INF). */
    static boolean carries(Set<String> shipped, Path jar) throws IOException {
        try (ZipFile z = new ZipFile(jar.toFile())) {
            return z.stream().filter(e -> !e.isDirectory() && !e.getName().startsWith("META-INF/")).findFirst()
                    .map(ZipEntry::getName).map(shipped::contains).orElse(false);
        }
    }

    static Path requests(Path f, int n) throws IOException {
        String[] prompts = {"I think dogs are ", "Today I feel", "The capital of France is", "Hello", "My brother is"};
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            String steer = switch (i % 3) {
                case 0 -> "";
                case 1 -> ", \"steer\": [{\"file\": \"" + dir.resolve("last.safetensors") + "\", \"coef\": " + (i % 7 - 3) + "}]";
                default -> ", \"steer\": [{\"file\": \"" + dir.resolve("mean.safetensors") + "\", \"coef\": 4, \"positions\": \"prompt\"}]";
            };
            String sampling = switch (i % 4) {
                case 1 -> ", \"temperature\": 0.9, \"seed\": " + i;
                case 3 -> ", \"temperature\": 1.2, \"top_k\": 20, \"seed\": " + (1000 + i);
                default -> "";
            };
            lines.add("{\"id\": \"c" + i + "\", \"prompt\": \"" + prompts[i % prompts.length] + "\", \"max_new_tokens\": "
                    + (20 + i % 20) + steer + sampling + "}");
        }
        Files.write(f, lines, StandardCharsets.UTF_8);
        return f;
    }

    static Map<String, JsonNode> steer4jBatch(Path in) throws Exception {
        Path out = dir.resolve("steer4j-batch.jsonl");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(0, dev.steer4j.cli.Main.run(new String[]{"batch", "--model", model.toString(), "--in", in.toString(),
                "--out", out.toString()}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true)), err::toString);
        Map<String, JsonNode> m = new HashMap<>();
        for (String l : Files.readAllLines(out)) {
            JsonNode r = JSON.readTree(l);
            m.put(r.get("id").asText(), r);
        }
        return m;
    }

    static void await(String what, Duration limit, BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + limit.toNanos();
        while (!done.getAsBoolean()) {
            for (Process p : daemons) {
                if (!p.isAlive()) fail(what + ": a Spark daemon exited: " + log(p));
            }
            if (System.nanoTime() > deadline) fail(what + ": not within " + limit + ": " + log(daemons.get(0)));
            Thread.sleep(200);
        }
    }

    static String log(String name) {
        try {
            String s = Files.readString(dir.resolve(name + ".log"));
            return s.length() > 6000 ? "…" + s.substring(s.length() - 6000) : s;
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    static String log(Process p) {
        return log(names.get(p));
    }

    static String masterUrl() {
        return "spark://127.0.0.1:" + masterPort;
    }

    /** {@code n} distinct free loopback ports: all held open together while picked, so no two are the same. */
    static int[] freePorts(int n) throws IOException {
        List<ServerSocket> open = new ArrayList<>();
        try {
            int[] ports = new int[n];
            for (int i = 0; i < n; i++) {
                open.add(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
                ports[i] = open.get(i).getLocalPort();
            }
            return ports;
        } finally {
            for (ServerSocket s : open) s.close();
        }
    }

    /** The Master's status (its web UI's /json/), or an empty object while it is not listening yet. */
    static JsonNode masterJson(HttpClient http) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + masterUi + "/json/"))
                    .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.ofString());
            return JSON.readTree(r.body());
        } catch (IOException e) {
            return JSON.createObjectNode(); // not listening yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }
}

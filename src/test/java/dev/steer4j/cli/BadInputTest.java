package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.steer4j.Fixtures;
import dev.steer4j.io.IoErrors;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.model.ModuleTree;
import dev.steer4j.runtime.Devices;
import dev.steer4j.safetensors.SafetensorsFile;
import dev.steer4j.safetensors.SafetensorsWriter;
import dev.steer4j.safetensors.TensorInfo;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.bytedeco.pytorch.PyTorchStreamReader;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad or suspicious input gets one clear line and exit 2, never a crash or a silently wrong result. */
class BadInputTest {
    static final String H1 = "transformer.h.1";

    @TempDir
    Path tmp;

    // ------------------------------------------------------------------ a full disk

    @Test
    void aFullDiskFailsEachWriterCleanlyAndKeepsTheOldFile() throws Exception {
        String model = Cli.convertedModel().toString(); // 8 MB: more than the disk below holds
        Path disk = tmp.resolve("disk");
        withTmpfs(disk, "4m", () -> {
            Path old = disk.resolve("old.pt");
            byte[] kept = tinyArchive(old); // a .pt archive: what convert may replace (OutputFiles)
            // fails in the middle of the weights (libtorch used to abort the JVM here)
            String msg = Cli.run("convert", "--hf", Fixtures.TINY.toString(), "--out", old.toString()).badInput();
            assertTrue(msg.contains("cannot write " + old + ": no space left on device"), msg);
            org.junit.jupiter.api.Assertions.assertArrayEquals(kept, Files.readAllBytes(old));
            msg = Cli.run("export", "--model", model, "--out", disk.resolve("e.pt").toString()).badInput();
            assertTrue(msg.contains("no space left on device"), msg);
            assertOnly(disk, "old.pt");

            fill(disk.resolve("filler"));
            for (String out : new String[] {"v.safetensors", "v.gguf"}) {
                msg = Cli.run("vector", "--model", model, "--positive", "Love", "--negative", "Hate", "--module", H1,
                        "--out", disk.resolve(out).toString()).badInput();
                assertTrue(msg.contains("cannot write " + disk.resolve(out) + ": no space left on device"), msg);
            }
            msg = Cli.run("generate", "--model", model, "--prompt", "Hi", "--max-new-tokens", "1",
                    "--profile", disk.resolve("trace.json").toString()).badInput();
            assertTrue(msg.contains("no space left on device"), msg);
            assertOnly(disk, "old.pt", "filler");
        });
    }

    /**
     * A sweep writes its folder as a whole: when the disk fills up after cells.jsonl (the plots and the report do
     * not fit), an earlier sweep's folder is left as it was, not mixed with half of the new one.
     */
    @Test
    void aFullDiskDuringASweepsWriteLeavesTheEarlierSweepWhole() throws Exception {
        Fixtures.writeVectors(tmp);
        Path disk = tmp.resolve("sweep-disk");
        withTmpfs(disk, "2m", () -> {
            Path out = disk.resolve("sweep");
            java.util.function.Function<String, String[]> sweep = coefs -> new String[] {"sweep", "--model",
                    Cli.convertedModel().toString(), "--vector", tmp.resolve("last.safetensors").toString(), "--coefs", coefs,
                    "--prompt", "a", "--prompt", "b", "--max-new-tokens", "2", "--out", out.toString()};
            assertEquals(0, Cli.run(sweep.apply("-10,10")).code());
            Map<String, byte[]> earlier = contents(out);
            long cells = earlier.get("cells.jsonl").length, plot = earlier.get("concept_heatmap.png").length;
            long room = (cells * 3 / 2 / 4096 + 2) * 4096;
            assertTrue(plot > room, "the test needs a plot larger than the room left: " + plot + " <= " + room);
            fill(disk.resolve("filler"));
            try (FileChannel f = FileChannel.open(disk.resolve("filler"), StandardOpenOption.WRITE)) {
                f.truncate(f.size() - room); // room for the new cells.jsonl, not for the plots and the report
            }
            Cli.Result failed = Cli.run(sweep.apply("-5,5")); // progress lines, then the error's one line
            assertEquals(2, failed.code(), failed.err());
            assertFalse(failed.err().contains("\tat "), failed.err());
            List<String> lines = failed.err().strip().lines().toList();
            assertEquals("steer4j: cannot write " + out + ": no space left on device", lines.get(lines.size() - 1));
            Map<String, byte[]> after = contents(out);
            assertEquals(earlier.keySet(), after.keySet());
            for (String f : earlier.keySet()) org.junit.jupiter.api.Assertions.assertArrayEquals(earlier.get(f), after.get(f), f);
            assertOnly(disk, "sweep", "filler");
        });
    }

    @Test
    void aFailedWriteToStandardOutputIsAnError() {
        OutputStream full = new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                throw new IOException("No space left on device");
            }
        };
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = Main.run(new String[] {"tokenize", "--text", "Hi", "--json"}, new PrintStream(full),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(2, code);
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("cannot write standard output"), err.toString());
    }

    // ------------------------------------------------------------------ weights that are not numbers

    @Test
    void convertRefusesNonFiniteWeightsNamingTheTensor() throws IOException {
        Path nan = checkpointWith(tmp.resolve("nan"), "transformer.h.1.mlp.c_fc.weight", Float.NaN);
        String msg = Cli.run("convert", "--hf", nan.toString(), "--out", tmp.resolve("x.pt").toString()).badInput();
        assertTrue(msg.contains("tensor transformer.h.1.mlp.c_fc.weight holds NaN or infinite values"), msg);

        // finite in the file, infinite once cast: float32 takes it, float16 cannot
        Path big = checkpointWith(tmp.resolve("big"), "transformer.h.0.ln_1.bias", 1e6f);
        msg = Cli.run("convert", "--hf", big.toString(), "--out", tmp.resolve("x.pt").toString(), "--dtype", "float16")
                .badInput();
        assertTrue(msg.contains("tensor transformer.h.0.ln_1.bias has values beyond the range of float16"), msg);
        assertFalse(Files.exists(tmp.resolve("x.pt")));
        assertEquals(0, Cli.run("convert", "--hf", big.toString(), "--out", tmp.resolve("x.pt").toString()).code());
    }

    @Test
    void loadRefusesAnArchiveWithNonFiniteWeights() {
        Gpt2Model m = Gpt2Model.load(Cli.convertedModel(), null, Devices.parse("cpu"));
        try (Tensor w = ModuleTree.tensors(m.module()).get("transformer.h.2.attn.c_proj.weight");
             Tensor row = w.select(0, 0); Tensor one = row.select(0, 7)) {
            one.fill_(new org.bytedeco.pytorch.Scalar(Float.POSITIVE_INFINITY));
        }
        Path out = tmp.resolve("inf.pt");
        m.save(out); // a consistent archive (its CRCs match), as a diverged training run would leave
        String msg = Cli.run("logits", "--model", out.toString(), "--prompt", "Hi").badInput();
        assertTrue(msg.contains("weight transformer.h.2.attn.c_proj.weight holds NaN or infinite values"), msg);
    }

    @Test
    void damagedBytesInTheWeightsFailTheCrcCheck() throws IOException {
        Path bad = tmp.resolve("damaged.pt");
        Files.copy(Cli.convertedModel(), bad);
        long at;
        try (PyTorchStreamReader r = new PyTorchStreamReader(bad.toString())) {
            at = r.getRecordOffset("data/0") + 4000; // inside the token embedding
        }
        try (FileChannel ch = FileChannel.open(bad, StandardOpenOption.WRITE)) {
            // a finite float, so that only the CRC can tell
            ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(12345f).flip(), at);
        }
        String msg = Cli.run("logits", "--model", bad.toString(), "--prompt", "Hi").badInput();
        assertTrue(msg.contains("is damaged: its record archive/data/0 fails its CRC32 check"), msg);
    }

    // ------------------------------------------------------------------ a checkpoint without a tokenizer

    @Test
    void convertWithoutTokenizerFilesNeedsNoTokenizer() throws IOException {
        Path hf = tmp.resolve("no-merges");
        Files.createDirectories(hf);
        for (String name : new String[] {"config.json", "vocab.json", "model.safetensors"}) {
            Files.copy(Fixtures.TINY.resolve(name), hf.resolve(name));
        }
        Path out = tmp.resolve("untokenized.pt");
        String msg = Cli.run("convert", "--hf", hf.toString(), "--out", out.toString()).badInput();
        assertTrue(msg.contains("has no merges.txt") && msg.contains("--no-tokenizer"), msg);
        assertFalse(Files.exists(out));

        Cli.Result r = Cli.run("convert", "--hf", hf.toString(), "--out", out.toString(), "--no-tokenizer");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("no tokenizer"), r.out());
        msg = Cli.run("logits", "--model", out.toString(), "--prompt", "Hi").badInput();
        assertTrue(msg.contains("pass --tokenizer"), msg);
        assertEquals(0, Cli.run("logits", "--model", out.toString(), "--tokenizer", Fixtures.TINY.toString(),
                "--prompt", "Hi").code());
    }

    // ------------------------------------------------------------------ PCA of nothing

    @Test
    void pcaOfPairsWithoutVarianceIsRefused() throws IOException {
        Path same = pairs("same.jsonl", "I love it", "I love it", "Good day", "Good day");
        Path out = tmp.resolve("v.safetensors");
        for (String method : new String[] {"pca_diff", "pca_center"}) {
            String msg = vector(same, method, out).badInput();
            assertTrue(msg.contains(method + " at " + H1 + ": each pair's two prompts give the same activation"), msg);
        }
        // nonzero differences, but all the same one: centred, nothing is left
        Path repeated = pairs("repeated.jsonl", "I love it", "I hate it", "I love it", "I hate it");
        String msg = vector(repeated, "pca_diff", out).badInput();
        assertTrue(msg.contains("every pair differs by the same vector"), msg);
        assertFalse(Files.exists(out));
        assertEquals(0, vector(repeated, "pca_center", out).code(), "its rows still vary");
    }

    // ------------------------------------------------------------------ messages that say what, not only where

    @Test
    void ioFailuresSayWhatWentWrong() throws IOException {
        String model = Cli.convertedModel().toString();
        Path missing = tmp.resolve("missing.jsonl");
        String msg = vector(missing, "mean", tmp.resolve("v.safetensors")).badInput();
        assertTrue(msg.endsWith(missing + ": no such file or directory"), msg); // was "…missing.jsonl: …missing.jsonl"

        Path latin1 = tmp.resolve("latin1.jsonl");
        Files.write(latin1, "{\"positive\": \"caf\u00e9\", \"negative\": \"bar\"}\n".getBytes(StandardCharsets.ISO_8859_1));
        msg = vector(latin1, "mean", tmp.resolve("v.safetensors")).badInput();
        assertTrue(msg.endsWith(latin1 + ": not valid UTF-8 text"), msg); // was "Input length = 1"

        Path hf = copyOfTiny(tmp.resolve("latin1-config"));
        Files.write(hf.resolve("config.json"), Files.readString(hf.resolve("config.json"))
                .replace("\"gpt2\"", "\"gpt2 caf\u00e9\"").getBytes(StandardCharsets.ISO_8859_1));
        msg = Cli.run("convert", "--hf", hf.toString(), "--out", tmp.resolve("x.pt").toString()).badInput();
        assertTrue(msg.contains("config.json is not valid UTF-8 text"), msg); // was an internal error

        msg = Cli.run("logits", "--model", tmp.toString(), "--prompt", "Hi").badInput();
        assertTrue(msg.contains("model file " + tmp + " is a directory"), msg); // was "not found"
        msg = Cli.run("logits", "--model", model, "--steer", tmp.toString(), "--prompt", "Hi").badInput();
        assertTrue(msg.contains("steering vector file " + tmp + " is a directory"), msg);
    }

    @Test
    void aGarbledMergesFileIsNotEchoed() throws IOException {
        Path hf = copyOfTiny(tmp.resolve("garbled"));
        byte[] head = Files.readAllBytes(Fixtures.TINY.resolve("merges.txt"));
        byte[] junk = new byte[300];
        new java.util.Random(7).nextBytes(junk);
        ByteArrayOutputStream merges = new ByteArrayOutputStream();
        merges.write(head, 0, 200);
        merges.write(junk);
        Files.write(hf.resolve("merges.txt"), merges.toByteArray());
        String msg = Cli.run("convert", "--hf", hf.toString(), "--out", tmp.resolve("x.pt").toString()).badInput();
        assertTrue(msg.matches("steer4j: merges\\.txt line \\d+ is not valid UTF-8 text"), msg);

        // a readable bad line is quoted
        Files.writeString(hf.resolve("merges.txt"), "#version: 0.2\n\u0120 t\nthree tokens here\n");
        msg = Cli.run("convert", "--hf", hf.toString(), "--out", tmp.resolve("x.pt").toString()).badInput();
        assertTrue(msg.endsWith("merges.txt line 3 is not two tokens separated by a space: \"three tokens here\""), msg);
        Files.write(hf.resolve("merges.txt"), "#version: 0.2\n\u0120 t\nbad\u0001line\n".getBytes(StandardCharsets.UTF_8));
        msg = Cli.run("convert", "--hf", hf.toString(), "--out", tmp.resolve("x.pt").toString()).badInput();
        assertTrue(msg.endsWith("merges.txt line 3 is not two tokens separated by a space"), msg);
    }

    @Test
    void permissionDeniedIsNamed() {
        // the JDK's AccessDeniedException message is only the path
        assertEquals("permission denied", IoErrors.reason(new AccessDeniedException("/x/.y.tmp")));
        // sysfs refuses new files even to root; elsewhere this part is skipped
        Path sys = Path.of("/sys/steer4j-test.safetensors");
        boolean denied = false;
        try {
            Files.createFile(sys).toFile().delete();
        } catch (AccessDeniedException e) {
            denied = true;
        } catch (IOException e) {
            // not denied: another error
        }
        assumeTrue(denied, "no directory here refuses root with EACCES");
        String msg = Cli.run("vector", "--model", Cli.convertedModel().toString(), "--positive", "Love",
                "--negative", "Hate", "--module", H1, "--out", sys.toString()).badInput();
        assertTrue(msg.endsWith("cannot write " + sys + ": permission denied"), msg); // was the temp file's path
    }

    // ------------------------------------------------------------------ helpers

    private Cli.Result vector(Path pairs, String method, Path out) {
        return Cli.run("vector", "--model", Cli.convertedModel().toString(), "--pairs", pairs.toString(),
                "--method", method, "--module", H1, "--out", out.toString());
    }

    private Path pairs(String name, String... texts) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < texts.length; i += 2) {
            sb.append("{\"positive\": \"").append(texts[i]).append("\", \"negative\": \"").append(texts[i + 1]).append("\"}\n");
        }
        return Files.writeString(tmp.resolve(name), sb.toString());
    }

    private static Path copyOfTiny(Path dir) throws IOException {
        Files.createDirectories(dir);
        for (String name : new String[] {"config.json", "vocab.json", "merges.txt", "model.safetensors"}) {
            Files.copy(Fixtures.TINY.resolve(name), dir.resolve(name));
        }
        return dir;
    }

    /** A copy of the tiny checkpoint with element 3 of float32 tensor {@code name} set to {@code value}. */
    private static Path checkpointWith(Path dir, String name, float value) throws IOException {
        copyOfTiny(dir);
        SafetensorsWriter w = new SafetensorsWriter();
        try (SafetensorsFile f = SafetensorsFile.open(Fixtures.TINY.resolve("model.safetensors"))) {
            f.metadata().forEach(w::putMetadata);
            for (TensorInfo t : f.tensors().values()) {
                ByteBuffer data = ByteBuffer.allocate((int) t.byteLength()).order(ByteOrder.LITTLE_ENDIAN);
                data.put(f.data(t.name())).flip();
                if (t.name().equals(name)) data.putFloat(3 * 4, value);
                w.add(t.name(), t.dtype(), t.shape(), data);
            }
        }
        w.write(dir.resolve("model.safetensors"));
        return dir;
    }

    interface Body {
        void run() throws Exception;
    }

    /** Runs {@code body} with a tmpfs of {@code size} mounted at {@code dir} (needs root, as CI has). */
    static void withTmpfs(Path dir, String size, Body body) throws Exception {
        Files.createDirectories(dir);
        int rc = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", dir.toString())
                .inheritIO().start().waitFor();
        assumeTrue(rc == 0, "cannot mount a tmpfs here (not root?)");
        try {
            body.run();
        } finally {
            new ProcessBuilder("umount", "-l", dir.toString()).inheritIO().start().waitFor();
        }
    }

    /** A few bytes laid out as a TorchScript archive (data.pkl, constants.pkl, code/, version); returns them. */
    private static byte[] tinyArchive(Path file) throws IOException {
        try (java.util.zip.ZipOutputStream zip = new java.util.zip.ZipOutputStream(Files.newOutputStream(file))) {
            for (String name : new String[] {"old/data.pkl", "old/constants.pkl", "old/code/__torch__.py", "old/version"}) {
                zip.putNextEntry(new java.util.zip.ZipEntry(name));
                zip.write((name.endsWith("version") ? "3" : "keep me").getBytes(StandardCharsets.UTF_8));
                zip.closeEntry();
            }
        }
        return Files.readAllBytes(file);
    }

    /** Writes {@code file} until the disk is full. */
    private static void fill(Path file) throws IOException {
        try (OutputStream out = Files.newOutputStream(file)) {
            byte[] block = new byte[1 << 16];
            while (true) out.write(block);
        } catch (IOException full) {
            assertTrue(String.valueOf(full.getMessage()).contains("No space left"), full.toString());
        }
    }

    /** Every file of the folder by name, with its bytes. */
    private static Map<String, byte[]> contents(Path dir) throws IOException {
        Map<String, byte[]> out = new TreeMap<>();
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) out.put(f.getFileName().toString(), Files.readAllBytes(f));
        }
        return out;
    }

    /** The folder holds exactly {@code names}: no temporary files left behind. */
    private static void assertOnly(Path dir, String... names) throws IOException {
        try (var files = Files.list(dir)) {
            assertEquals(java.util.Set.of(names),
                    files.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toSet()));
        }
    }
}

package dev.steer4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.Fixtures;
import dev.steer4j.InvalidInputException;
import dev.steer4j.generate.Generator;
import dev.steer4j.model.Gpt2Model;
import dev.steer4j.runtime.Devices;
import dev.steer4j.runtime.Torch;
import dev.steer4j.runtime.TorchErrors;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.bytedeco.pytorch.global.torch;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model file that is not what steer4j can run (not a zip, not TorchScript, a config that disagrees with the weights,
 * a foreign forward of another shape) is refused with one line in steer4j's words and exit 2, from the CLI and from
 * {@link Gpt2Model#load} alike; none of libtorch's own text reaches the user, and the JVM goes on.
 */
class ModelErrorsTest {
    /** What libtorch's messages carry and steer4j's never may. */
    private static final String[] LIBTORCH = {"enforce fail", "Could this error message be improved",
            "TorchScript interpreter", "inline_container", "Exception raised from", "frame #", "PytorchStreamReader",
            "Expected hasRecord", "Traceback"};

    @TempDir
    Path tmp;

    @BeforeAll
    static void loadLibtorch() {
        Torch.load(); // before the first native call of a test (a cold JavaCPP cache would crash the JVM)
    }

    @AfterEach
    void theJvmGoesOn() {
        // every refusal above left the process whole: the good model still loads and runs
        Cli.Result r = Cli.run("generate", "--model", Cli.convertedModel().toString(), "--prompt", "Hi",
                "--max-new-tokens", "2");
        assertEquals(0, r.code(), r.err());
    }

    // ------------------------------------------------------------------ not a TorchScript archive

    @Test
    void aFileThatIsNotAZipIsNamedAsSuch() throws IOException {
        Path empty = Files.createFile(tmp.resolve("empty.pt"));
        refusedAtLoad(empty, empty + " is not a TorchScript archive: the file is empty");

        Path text = Files.writeString(tmp.resolve("text.pt"), "{\"not\": \"a model\"}\n");
        refusedAtLoad(text, text + " is not a TorchScript archive: it is not a zip file");

        byte[] good = Files.readAllBytes(Cli.convertedModel());
        for (int keep : new int[] {good.length / 2, good.length - 10}) { // the weights cut, or only the zip's tail
            Path cut = Files.write(tmp.resolve("cut" + keep + ".pt"), Arrays.copyOf(good, keep));
            refusedAtLoad(cut, cut + " is not a TorchScript archive: it begins as a zip file but has no readable zip"
                    + " directory at its end (is it cut short?)");
        }
    }

    @Test
    void aZipWithoutTheLayoutOfTorchScriptSaysWhatIsMissing() throws IOException {
        Path loose = zip("loose.pt", "a.txt", "x", "b/c.txt", "y");
        refusedAtLoad(loose, loose + " is not a TorchScript archive: its first record, a.txt, is not inside a folder");

        Path folder = zip("folder.pt", "b/c.txt", "y", "b/notes/d.txt", "z");
        refusedAtLoad(folder, folder + " is not a TorchScript archive: it has no b/data.pkl, b/constants.pkl, b/code/"
                + " or b/version");

        Path noVersion = zip("noversion.pt", "m/data.pkl", "p", "m/constants.pkl", "c", "m/code/__torch__/m.py", "s");
        refusedAtLoad(noVersion, noVersion + " is not a TorchScript archive: it has no m/version");

        // what torch.save writes: a pickle and tensors, no program
        Path saved = zip("saved.pt", "archive/data.pkl", "p", "archive/byteorder", "little", "archive/data/0", "0000",
                "archive/version", "3\n");
        refusedAtLoad(saved, saved + " is not a TorchScript archive: it holds tensors but no program", "torch.jit.save");

        Path empty = zip("nothing.pt");
        refusedAtLoad(empty, empty + " is not a TorchScript archive: the zip file holds no records");
    }

    @Test
    void libtorchsOwnFailuresComeOutInSteer4jsWords() throws IOException {
        // the layout of a TorchScript archive with garbage in its records: libtorch's reader fails
        Path garbage = zip("garbage.pt", "g/data.pkl", "not a pickle", "g/constants.pkl", "nor this",
                "g/code/__torch__/g.py", "x", "g/version", "3\n");
        String line = refusedAtLoad(garbage, "cannot load " + garbage + ": it is laid out as a TorchScript archive, but"
                + " libtorch could not read it");
        assertTrue(line.endsWith("(Expected PROTO opcode at the start of pickle archive, found 110)"), line);
    }

    @Test
    void aFormatVersionLibtorchCannotReadIsSaidBeforeLibtorchSaysIt() throws IOException {
        // libtorch: "[enforce fail at inline_container.cc:230] . Attempted to read a PyTorch file with version 99, …
        // please upgrade PyTorch to latest version"
        Path future = zip("future.pt", "f/data.pkl", "p", "f/constants.pkl", "c", "f/code/__torch__/f.py", "x",
                "f/version", "99\n");
        refusedAtLoad(future, "cannot load " + future + ": it is in TorchScript file format version 99, and steer4j's"
                + " libtorch reads versions " + torch.kMinSupportedFileFormatVersion() + " to "
                + torch.kMaxSupportedFileFormatVersion() + " (it was saved by a newer PyTorch)");
        Path words = zip("words.pt", "f/data.pkl", "p", "f/constants.pkl", "c", "f/code/__torch__/f.py", "x",
                "f/.data/version", "three\n");
        refusedAtLoad(words, words + " is not a TorchScript archive: its record f/.data/version is not a version number");
    }

    @Test
    void libtorchsDecorationsAreStripped() {
        assertEquals("file in archive is not in a subdirectory: a.txt",
                TorchErrors.reason("[enforce fail at inline_container.cc:180] . file in archive is not in a subdirectory: a.txt\n"));
        assertEquals(null, TorchErrors.reason("Expected hasRecord(\"version\") to be true, but got false.  (Could this"
                + " error message be improved?  If so, please report an enhancement request to PyTorch.)\n"
                + "Exception raised from init at /x/inline_container.cc:207 (most recent call first):\nframe #0: c10::Error"));
        assertEquals("mat1 and mat2 shapes cannot be multiplied (1x3 and 1000x8)", TorchErrors.reason("""
                The following operation failed in the TorchScript interpreter.
                Traceback of TorchScript (most recent call last):
                  File "code/__torch__/bad.py", line 8, in forward
                    x: Tensor) -> Tensor:
                    return torch.matmul(torch.float(x), weight)
                           ~~~~~~~~~~~~ <--- HERE
                RuntimeError: mat1 and mat2 shapes cannot be multiplied (1x3 and 1000x8)
                """));
        assertEquals(null, TorchErrors.reason("The following operation failed in the TorchScript interpreter.\n"));
        assertEquals(null, TorchErrors.reason(null));
    }

    // ------------------------------------------------------------------ a config that disagrees with the weights

    @Test
    void aConfigThatDisagreesWithTheWeightsNamesTheTensorAndBothShapes() throws IOException {
        // the reported case: a wider n_embd than the weights were built with (was exit 1, "TorchScript interpreter")
        Path wider = withConfig("wider.pt", "\"n_embd\" : 32", "\"n_embd\" : 48");
        refusedAtLoad(wider, wider + ": its config.json disagrees with its weights: weight transformer.wte.weight has"
                + " shape [50257, 32], the config expects [50257, 48]");

        // was exit 0: n_inner is read nowhere at run time, so the model ran while reporting another shape
        Path inner = withConfig("inner.pt", "\"n_inner\" : 128", "\"n_inner\" : 64");
        refusedAtLoad(inner, inner + ": its config.json disagrees with its weights: weight"
                + " transformer.h.0.mlp.c_fc.weight has shape [32, 128], the config expects [32, 64]");

        // was exit 0: a KV cache for a block the program does not have, and hooks on it would fail
        Path deeper = withConfig("deeper.pt", "\"n_layer\" : 3", "\"n_layer\" : 4");
        refusedAtLoad(deeper, deeper + ": its config.json disagrees with its weights: the config (n_layer 4) expects a"
                + " weight transformer.h.3.ln_1.weight of shape [32], which the archive does not have");

        // fewer layers than the program has: was exit 1 from inside the interpreter (too few caches)
        Path shallower = withConfig("shallower.pt", "\"n_layer\" : 3", "\"n_layer\" : 2");
        refusedAtLoad(shallower, shallower + ": its config.json disagrees with its weights: the archive has a weight"
                + " transformer.h.2.ln_1.weight of shape [32], which the config (n_layer 2) does not expect");

        // n_head is in no shape, only in the program's attention: was exit 1 from inside the interpreter
        Path heads = withConfig("heads.pt", "\"n_head\" : 2", "\"n_head\" : 4");
        refusedAtLoad(heads, heads + ": its config.json disagrees with its program: the config says n_head 4, the"
                + " program's attention has 2 heads");
    }

    @Test
    void aConfigThatIsNotAConfigIsRefusedNamingTheFile() throws IOException {
        Path json = withConfig("json.pt", "{", "{{");
        refusedAtLoad(json, json + ": its config.json is unusable: config is not valid JSON");
        Path zero = withConfig("zero.pt", "\"n_embd\" : 32", "\"n_embd\" : 0");
        refusedAtLoad(zero, zero + ": its config.json is unusable: config field n_embd must be positive, got 0");
        Path negative = withConfig("negative.pt", "\"n_layer\" : 3", "\"n_layer\" : -3");
        refusedAtLoad(negative, negative + ": its config.json is unusable: config field n_layer must be positive, got -3");
        Path indivisible = withConfig("indivisible.pt", "\"n_head\" : 2", "\"n_head\" : 3");
        refusedAtLoad(indivisible, indivisible + ": its config.json is unusable: n_embd 32 is not divisible by n_head 3");

        // was exit 1, a NullPointerException
        Path none = rezip(Cli.convertedModel(), tmp.resolve("noconfig.pt"),
                (name, bytes) -> name.endsWith("extra/config.json") ? null : bytes);
        refusedAtLoad(none, none + " is marked as a steer4j archive (steer4j.json) but has no config.json");
    }

    // ------------------------------------------------------------------ a foreign model of another shape

    @Test
    void aForeignForwardThatDoesNotFitFailsItsFirstRunInOneLine() throws IOException {
        String expects = "; steer4j runs a foreign TorchScript GPT-2 as forward(input_ids [1, T]) -> logits [1, T, 1000]";
        Path twoArgs = foreign("twoargs.pt", "def forward(self, x: Tensor, y: Tensor) -> Tensor:\n    return x + y\n");
        String line = refusedAtFirstRun(twoArgs, twoArgs + ": its forward failed on input_ids of shape [1, ");
        assertTrue(line.contains("missing value for argument 'y'") && line.endsWith(expects), line);

        Path tuple = foreign("tuple.pt", "def forward(self, x: Tensor) -> Tuple[Tensor, Tensor]:\n    return x, x\n");
        refusedAtFirstRun(tuple, tuple + ": its forward returned a Tuple, not a tensor" + expects);

        // fails inside the interpreter: its real error, not "The following operation failed in the TorchScript interpreter"
        Path fails = foreign("fails.pt", "def forward(self, x: Tensor) -> Tensor:\n"
                + "    return torch.matmul(x.float(), self.transformer.wte.weight)\n");
        line = refusedAtFirstRun(fails, fails + ": its forward failed on input_ids of shape [1, ");
        assertTrue(line.contains("(mat1 and mat2 shapes cannot be multiplied") && line.endsWith(expects), line);

        // runs, but what it returns is no logits: was exit 0, with tokens read from whatever it returned
        Path shape = foreign("shape.pt", "def forward(self, x: Tensor) -> Tensor:\n    return x.float()\n");
        refusedAtFirstRun(shape, shape + ": its forward returned shape [1, ");
    }

    // ------------------------------------------------------------------ helpers

    /** The CLI refuses {@code bad} with one line containing each part; Gpt2Model.load throws the same. */
    private String refusedAtLoad(Path bad, String... parts) {
        String line = refusedByCli(bad, parts);
        InvalidInputException e = assertThrows(InvalidInputException.class,
                () -> Gpt2Model.load(bad, null, Devices.parse("cpu")).close());
        assertEquals(line, "steer4j: " + e.getMessage());
        return line;
    }

    /** As {@link #refusedAtLoad}, for a model that loads and fails at its first forward. */
    private String refusedAtFirstRun(Path bad, String... parts) {
        String line = refusedByCli(bad, parts);
        try (Gpt2Model m = Gpt2Model.load(bad, null, Devices.parse("cpu"))) {
            int[][] ids = {m.tokenizer().encode("x")};
            InvalidInputException e = assertThrows(InvalidInputException.class, () -> new Generator(m).lastLogits(ids));
            assertEquals(line, "steer4j: " + e.getMessage());
        }
        return line;
    }

    private static String refusedByCli(Path bad, String... parts) {
        String line = Cli.run("generate", "--model", bad.toString(), "--prompt", "x", "--max-new-tokens", "2").badInput();
        assertTrue(line.contains(bad.toString()), () -> "names the file: " + line);
        for (String part : parts) assertTrue(line.contains(part), () -> "expected \"" + part + "\" in: " + line);
        for (String t : LIBTORCH) assertFalse(line.contains(t), () -> "libtorch's \"" + t + "\" in: " + line);
        return line;
    }

    /** A zip of {@code name, content} pairs, stored in that order. */
    private Path zip(String file, String... entries) throws IOException {
        Path out = tmp.resolve(file);
        try (ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(out))) {
            for (int i = 0; i < entries.length; i += 2) {
                put(z, entries[i], entries[i + 1].getBytes(StandardCharsets.UTF_8));
            }
        }
        return out;
    }

    /** The converted tiny model with its config.json edited: {@code from} replaced by {@code to} (which must occur). */
    private Path withConfig(String file, String from, String to) throws IOException {
        return rezip(Cli.convertedModel(), tmp.resolve(file), (name, bytes) -> {
            if (!name.endsWith("extra/config.json")) return bytes;
            String json = new String(bytes, StandardCharsets.UTF_8);
            assertTrue(json.contains(from), () -> "the fixture's config has " + from + ": " + json);
            return json.replace(from, to).getBytes(StandardCharsets.UTF_8);
        });
    }

    /**
     * {@code src} record by record through {@code edit} (null drops a record) into {@code out}: each record stored
     * with its own CRC32, so that only the edit differs (steer4j checks every record's CRC).
     */
    private static Path rezip(Path src, Path out, BiFunction<String, byte[], byte[]> edit) throws IOException {
        try (ZipFile in = new ZipFile(src.toFile()); ZipOutputStream z = new ZipOutputStream(Files.newOutputStream(out))) {
            for (ZipEntry e : Collections.list(in.entries())) {
                byte[] bytes = edit.apply(e.getName(), in.getInputStream(e).readAllBytes());
                if (bytes != null) put(z, e.getName(), bytes);
            }
        }
        return out;
    }

    private static void put(ZipOutputStream z, String name, byte[] bytes) throws IOException {
        ZipEntry e = new ZipEntry(name);
        e.setMethod(ZipEntry.STORED);
        e.setSize(bytes.length);
        CRC32 crc = new CRC32();
        crc.update(bytes);
        e.setCrc(crc.getValue());
        z.putNextEntry(e);
        z.write(bytes);
        z.closeEntry();
    }

    /**
     * A foreign TorchScript "GPT-2" with the given root forward: the embedding tables steer4j reads its shape from
     * ({@code transformer.wte.weight [1000, 8]}, {@code transformer.wpe.weight [64, 8]}) and the reference tokenizer.
     */
    private Path foreign(String file, String forward) throws IOException {
        Path out = tmp.resolve(file);
        Map<String, byte[]> files = new HashMap<>();
        files.put("vocab.json", Files.readAllBytes(Fixtures.TOKENIZER.resolve("vocab.json")));
        files.put("merges.txt", Files.readAllBytes(Fixtures.TOKENIZER.resolve("merges.txt")));
        String tag = file.replaceAll("[^A-Za-z0-9]", "_");
        try (PointerScope scope = new PointerScope()) {
            JitModule root = new JitModule(new QualifiedName("__torch__.bad." + tag + ".Root"));
            JitModule transformer = new JitModule(new QualifiedName("__torch__.bad." + tag + ".Transformer"));
            for (String[] table : new String[][] {{"wte", "1000"}, {"wpe", "64"}}) {
                JitModule embedding = new JitModule(new QualifiedName("__torch__.bad." + tag + ".Embedding_" + table[0]));
                embedding.register_parameter("weight", torch.zeros(Long.parseLong(table[1]), 8), false);
                transformer.register_module(table[0], embedding);
            }
            root.register_module("transformer", transformer);
            root.define(forward);
            Gpt2Model.writeArchive(root, files, out);
        }
        return out;
    }
}

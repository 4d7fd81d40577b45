package dev.steer4j.model;

import static dev.steer4j.Fixtures.TOL;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.steer4j.Fixtures;
import dev.steer4j.generate.Generator;
import dev.steer4j.runtime.Devices;
import java.nio.file.Path;
import java.util.Map;
import org.bytedeco.pytorch.IValue;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Gpt2Program#columnMajor}: every Conv1D weight of a built program is laid out as nn.Linear's
 * {@code [out, in]} (strides {@code [1, in]}) with the checkpoint's shape; an archive saved that way keeps it, and
 * one of an earlier steer4j (contiguous {@code [in, out]}) is laid out so when loaded. Logits stay the reference's.
 */
class Conv1DLayoutTest {
    private static final String[] CONV1D = {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"};

    @Test
    void builtSavedAndOlderArchivesAllRunColumnMajorWeights(@TempDir Path dir) {
        assertColumnMajor(Fixtures.converted(), "built");

        Path saved = dir.resolve("saved.pt");
        Fixtures.saveConverted(saved);
        try (Gpt2Model m = Gpt2Model.load(saved, null, Devices.parse("cpu"))) {
            assertColumnMajor(m, "saved and loaded");
            assertReferenceLogits(m);
        }

        Path older = dir.resolve("older.pt");
        try (Gpt2Model m = Fixtures.freshConverted()) {
            for (int l = 0; l < m.layers(); l++) {
                for (String c : CONV1D) {
                    var module = ModuleTree.find(m.module(), "transformer.h." + l + "." + c);
                    try (IValue attr = module.attr("weight"); Tensor w = attr.toTensor(); Tensor rowMajor = w.contiguous();
                         IValue value = new IValue(rowMajor)) {
                        module.setattr("weight", value); // as an earlier steer4j saved it
                    }
                }
            }
            try (Tensor w = ModuleTree.tensors(m.module()).get("transformer.h.0.mlp.c_fc.weight")) {
                assertTrue(w.is_contiguous(), "the older layout was written");
            }
            m.save(older);
        }
        try (Gpt2Model m = Gpt2Model.load(older, null, Devices.parse("cpu"))) {
            assertColumnMajor(m, "older archive loaded");
            assertReferenceLogits(m);
        }
    }

    private static void assertColumnMajor(Gpt2Model m, String which) {
        Map<String, Tensor> tensors = ModuleTree.tensors(m.module());
        for (int l = 0; l < m.layers(); l++) {
            for (String c : CONV1D) {
                String name = "transformer.h." + l + "." + c + ".weight";
                Tensor w = tensors.get(name);
                long in = w.size(0);
                assertEquals(2, w.dim(), name);
                assertArrayEquals(new long[] {1, in}, new long[] {w.stride(0), w.stride(1)}, which + ": " + name);
            }
        }
    }

    private static void assertReferenceLogits(Gpt2Model m) {
        Generator g = new Generator(m);
        for (JsonNode p : Fixtures.expected("logits.json").get("prompts")) {
            int[] ids = m.tokenizer().encode(p.get("text").asText());
            Fixtures.assertClose(Fixtures.floats(p.get("last_logits")), g.lastLogits(new int[][] {ids})[0], TOL,
                    p.get("text").asText());
        }
    }
}

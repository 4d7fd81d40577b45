package dev.steer4j.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.steer4j.Fixtures;
import dev.steer4j.runtime.Torch;
import java.nio.file.Path;
import org.bytedeco.pytorch.JitModule;
import org.bytedeco.pytorch.QualifiedName;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Gpt2Program#hasPackedStep}: a program built now has chunked prefill's packed step, and so does its
 * archive once loaded; a root with only the older forward (an archive of an earlier steer4j) has not.
 */
class PackedStepTest {
    @Test
    void builtAndLoadedProgramsHaveItAnOlderRootHasNot(@TempDir Path dir) {
        Torch.load();
        JitModule older = new JitModule(new QualifiedName("__torch__.steer4j.test.OlderRoot"));
        older.define("""
                def forward(self, input_ids: Tensor, position_ids: Tensor, key_padding: Tensor, k_caches: List[Tensor], v_caches: List[Tensor], past: int, last_only: bool) -> Tensor:
                    return input_ids
                """);
        assertFalse(Gpt2Program.hasPackedStep(older));
        assertTrue(Gpt2Program.hasPackedStep(Fixtures.converted().module()));
        Path file = dir.resolve("tiny.pt");
        Fixtures.saveConverted(file);
        try (Gpt2Model loaded = Gpt2Model.load(file, null, new org.bytedeco.pytorch.Device("cpu"))) {
            assertTrue(Gpt2Program.hasPackedStep(loaded.module()));
        }
    }
}
